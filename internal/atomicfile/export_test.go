package atomicfile

// SetLeaseOff turns the leases off (true) or on, so that tests can check
// the second look without one; it returns the previous setting.
func SetLeaseOff(off bool) bool {
	prev := leaseOff
	leaseOff = off
	return prev
}
