package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// suggest returns the candidate nearest to typed, or "" when none is near
// enough to be what was meant: an edit distance of at most a third of the
// longer name (one edit at least), or typed being a prefix of exactly one
// candidate.
func suggest(typed string, candidates []string) string {
	best, bestD := "", -1
	var prefixed []string
	for _, c := range candidates {
		if c == typed {
			return ""
		}
		if len(typed) >= 2 && strings.HasPrefix(c, typed) {
			prefixed = append(prefixed, c)
		}
		d := editDistance(strings.ToLower(typed), strings.ToLower(c))
		if d <= max(1, max(len(typed), len(c))/3) && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	if best == "" && len(prefixed) == 1 {
		best = prefixed[0]
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, with a swap of two
// neighbours counted as one edit (Damerau's "optimal string alignment").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// suggestCommand returns " (did you mean 'NAME'?)" for a command name
// near typed among cmds, or "".
func suggestCommand(cmds []*ucli.Command, typed string) string {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	if s := suggest(typed, names); s != "" {
		return fmt.Sprintf("; did you mean '%s'?", s)
	}
	return ""
}

// suggestFlag returns "; did you mean --NAME?" for a flag of cmd near
// typed (without its dashes), or "".
func suggestFlag(cmd *ucli.Command, typed string) string {
	var names []string
	for _, f := range cmd.Flags {
		names = append(names, f.Names()...)
	}
	if ucli.HelpFlag != nil && !cmd.HideHelp {
		names = append(names, ucli.HelpFlag.Names()...)
	}
	s := suggest(typed, names)
	switch {
	case s == "":
		return ""
	case len(s) == 1:
		return fmt.Sprintf("; did you mean -%s?", s)
	}
	return fmt.Sprintf("; did you mean --%s?", s)
}
