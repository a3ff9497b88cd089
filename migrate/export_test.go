package migrate

// SetBatchSync fixes the batch's sync mechanism ("fsync", "syncfs", or ""
// to choose by the data other programs have pending) and returns the
// previous setting.
func SetBatchSync(m string) string {
	prev := forceSync
	forceSync = m
	return prev
}
