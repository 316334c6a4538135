// Package benchflag holds the flag types the benchmarks share.
package benchflag

import (
	"fmt"
	"strconv"
	"strings"
)

// Ints is a flag of comma-separated integers (--nodes 500,5000).
type Ints []int

func (l *Ints) String() string {
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// Set parses v, replacing the defaults.
func (l *Ints) Set(v string) error {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("%q is not a number", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}
