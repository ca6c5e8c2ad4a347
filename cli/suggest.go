package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
)

// envPrefix begins every variable that sets a flag.
const envPrefix = "REFRESH_TOKEN_"

// unknownEnv returns a warning for each REFRESH_TOKEN_ variable that sets
// no flag of any command (a misspelling is otherwise silently ignored),
// naming the nearest real one.
func unknownEnv(app *kong.Application, environ []string) []string {
	known := map[string]bool{}
	var names []string
	_ = kong.Visit(app, func(n kong.Visitable, next kong.Next) error {
		if f, ok := n.(*kong.Flag); ok {
			for _, e := range f.Envs {
				if !known[e] {
					known[e] = true
					names = append(names, e)
				}
			}
		}
		return next(nil)
	})
	sort.Strings(names)
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix) && !known[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	var warnings []string
	for _, name := range unknown {
		msg := fmt.Sprintf("%s sets no flag and is ignored", name)
		if near := nearest(name, names); near != "" {
			msg += fmt.Sprintf("; did you mean %s?", near)
		}
		warnings = append(warnings, msg)
	}
	return warnings
}

// commandHint suggests the command nearest to a mistyped one, for kong's
// "unexpected argument X"; "" when none is near.
func commandHint(app *kong.Application, err error) string {
	arg, ok := strings.CutPrefix(err.Error(), "unexpected argument ")
	if !ok {
		return ""
	}
	var names []string
	for _, n := range app.Children {
		names = append(names, n.Name)
	}
	if near := nearest(arg, names); near != "" {
		return fmt.Sprintf("did you mean 'refresh-token %s'? see 'refresh-token --help'", near)
	}
	return ""
}

// nearest returns the candidate closest to s, if it is close enough to be a
// misspelling of it (an edit distance of at most a third of its length).
func nearest(s string, candidates []string) string {
	best, bestD := "", len(s)/3+1
	for _, c := range candidates {
		if d := distance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
