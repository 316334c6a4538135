package proxy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// memApplier is an in-memory table that enforces what the kernel enforces for our operations
// (existence, references, element conflicts) and applies a transaction all or nothing.
type memApplier struct {
	st        *memState
	failAfter int // >0: the n-th apply fails
	applies   int
	txs       []*transaction
}

type memChain struct {
	hook  *hook
	rules []rule
}

type memState struct {
	chains map[string]*memChain
	maps   map[string]map[string]elem // map name -> key text -> element
}

func (s *memState) clone() *memState {
	if s == nil {
		return nil
	}
	c := &memState{chains: map[string]*memChain{}, maps: map[string]map[string]elem{}}
	for n, ch := range s.chains {
		c.chains[n] = &memChain{hook: ch.hook, rules: slices.Clone(ch.rules)}
	}
	for n, m := range s.maps {
		c.maps[n] = maps.Clone(m)
	}
	return c
}

var errInjected = errors.New("injected failure")

func (a *memApplier) apply(_ context.Context, t *transaction) error {
	a.applies++
	a.txs = append(a.txs, t)
	if a.failAfter > 0 && a.applies == a.failAfter {
		return errInjected
	}
	st, err := applyMem(a.st.clone(), t)
	if err != nil {
		return err
	}
	a.st = st
	return nil
}

func (a *memApplier) close() error { return nil }

func (a *memApplier) deleteTable(context.Context) error {
	a.st = nil
	return nil
}

// refs are the chains and maps a rule refers to.
func refs(r rule) (chains, mapNames []string) {
	for _, s := range r {
		switch s := s.(type) {
		case verdictStmt:
			if s.chain != "" {
				chains = append(chains, s.chain)
			}
		case vmapLookup:
			mapNames = append(mapNames, s.m.name)
		}
	}
	return chains, mapNames
}

func applyMem(st *memState, t *transaction) (*memState, error) {
	need := func() error {
		if st == nil {
			return errors.New("no such table")
		}
		return nil
	}
	for i, o := range t.ops {
		fail := func(format string, args ...any) (*memState, error) {
			return nil, fmt.Errorf("op %d (%d): %s", i, o.kind, fmt.Sprintf(format, args...))
		}
		switch o.kind {
		case opAddTable:
			if st == nil {
				st = &memState{chains: map[string]*memChain{}, maps: map[string]map[string]elem{}}
			}
		case opDelTable:
			if st == nil {
				return fail("delete: no such table")
			}
			st = nil
		case opAddMap:
			if err := need(); err != nil {
				return fail("%v", err)
			}
			if st.maps[o.mapName] == nil {
				st.maps[o.mapName] = map[string]elem{}
			}
		case opAddChain:
			if err := need(); err != nil {
				return fail("%v", err)
			}
			if c := st.chains[o.chain]; c != nil {
				if (c.hook == nil) != (o.hook == nil) {
					return fail("chain %s exists with another hook", o.chain)
				}
				continue
			}
			st.chains[o.chain] = &memChain{hook: o.hook}
		case opFlushChain, opDelChain:
			if err := need(); err != nil {
				return fail("%v", err)
			}
			c := st.chains[o.chain]
			if c == nil {
				return fail("chain %s does not exist", o.chain)
			}
			if o.kind == opFlushChain {
				c.rules = nil
				continue
			}
			if len(c.rules) > 0 {
				return fail("delete chain %s: it has rules", o.chain)
			}
			for n, other := range st.chains {
				for _, r := range other.rules {
					if cs, _ := refs(r); slices.Contains(cs, o.chain) {
						return fail("delete chain %s: referenced from %s", o.chain, n)
					}
				}
			}
			for n, m := range st.maps {
				for _, e := range m {
					if e.chain == o.chain {
						return fail("delete chain %s: referenced from map %s", o.chain, n)
					}
				}
			}
			delete(st.chains, o.chain)
		case opAddRule:
			if err := need(); err != nil {
				return fail("%v", err)
			}
			c := st.chains[o.chain]
			if c == nil {
				return fail("add rule: chain %s does not exist", o.chain)
			}
			cs, ms := refs(o.rule)
			for _, x := range cs {
				if st.chains[x] == nil {
					return fail("rule refers to missing chain %s", x)
				}
			}
			for _, x := range ms {
				if st.maps[x] == nil {
					return fail("rule refers to missing map %s", x)
				}
			}
			c.rules = append(c.rules, o.rule)
		case opAddElems, opDelElems:
			if err := need(); err != nil {
				return fail("%v", err)
			}
			m := st.maps[o.mapName]
			if m == nil {
				return fail("map %s does not exist", o.mapName)
			}
			for _, e := range o.elems {
				if e.mapName != o.mapName {
					return fail("element %s of map %s in a list for %s", e.text(), e.mapName, o.mapName)
				}
				old, ok := m[e.keyText()]
				if o.kind == opDelElems {
					if !ok {
						return fail("delete element %s: not in %s", e.keyText(), o.mapName)
					}
					delete(m, e.keyText())
					continue
				}
				if ok && old != e {
					return fail("add element %s: exists as %s", e.text(), old.text())
				}
				if st.chains[e.chain] == nil {
					return fail("element %s refers to a missing chain", e.text())
				}
				m[e.keyText()] = e
			}
		}
	}
	return st, nil
}

// render prints the state in nft's table syntax, in a stable order: maps as declared, chains
// by name, elements by key.
func (s *memState) render() string {
	if s == nil {
		return "(no table)\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", tableName)
	for _, m := range tableMaps {
		els, ok := s.maps[m.name]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\tmap %s {\n\t\ttype %s\n", m.name, m.typeText())
		if len(els) > 0 {
			b.WriteString("\t\telements = {\n")
			for i, k := range slices.Sorted(maps.Keys(els)) {
				sep := ","
				if i == len(els)-1 {
					sep = ""
				}
				fmt.Fprintf(&b, "\t\t\t%s%s\n", els[k].text(), sep)
			}
			b.WriteString("\t\t}\n")
		}
		b.WriteString("\t}\n\n")
	}
	names := slices.Sorted(maps.Keys(s.chains))
	for i, n := range names {
		c := s.chains[n]
		fmt.Fprintf(&b, "\tchain %s {\n", n)
		if c.hook != nil {
			fmt.Fprintf(&b, "\t\t%s;\n", c.hook.text())
		}
		for _, r := range c.rules {
			fmt.Fprintf(&b, "\t\t%s\n", r.text())
		}
		b.WriteString("\t}\n")
		if i < len(names)-1 {
			b.WriteString("\n")
		}
	}
	b.WriteString("}\n")
	return b.String()
}
