package proxy

import (
	"fmt"
	"slices"
	"strings"
)

// opKind is one kind of change in a transaction.
type opKind uint8

const (
	opAddTable opKind = iota
	opDelTable
	opAddMap
	opAddChain
	opFlushChain
	opDelChain
	opAddRule
	opAddElems
	opDelElems
)

// op is one change: the fields used depend on kind.
type op struct {
	kind    opKind
	chain   string
	hook    *hook // opAddChain of a base chain
	rule    rule  // opAddRule
	mapName string
	elems   []elem // opAddElems, opDelElems
}

// transaction is an ordered list of changes to the table, applied atomically.
type transaction struct {
	ops []op
}

func (t *transaction) add(o op) { t.ops = append(t.ops, o) }

// TxStats counts what a transaction writes.
type TxStats struct {
	ChainsAdded, ChainsFlushed, ChainsDeleted int
	RulesAdded                                int
	ElementsAdded, ElementsDeleted            int
}

// Objects is the number of objects the transaction writes or removes.
func (s TxStats) Objects() int {
	return s.ChainsAdded + s.ChainsFlushed + s.ChainsDeleted + s.RulesAdded + s.ElementsAdded + s.ElementsDeleted
}

func (t *transaction) stats() TxStats {
	var s TxStats
	for _, o := range t.ops {
		switch o.kind {
		case opAddChain:
			s.ChainsAdded++
		case opFlushChain:
			s.ChainsFlushed++
		case opDelChain:
			s.ChainsDeleted++
		case opAddRule:
			s.RulesAdded++
		case opAddElems:
			s.ElementsAdded += len(o.elems)
		case opDelElems:
			s.ElementsDeleted += len(o.elems)
		}
	}
	return s
}

// script renders the transaction as an `nft -f` script with the same effect, one command a
// line (element lists on one line each).
func (t *transaction) script() string {
	var b strings.Builder
	pfx := "ip " + tableName
	for _, o := range t.ops {
		switch o.kind {
		case opAddTable:
			fmt.Fprintf(&b, "add table %s\n", pfx)
		case opDelTable:
			fmt.Fprintf(&b, "delete table %s\n", pfx)
		case opAddMap:
			fmt.Fprintf(&b, "add map %s %s { type %s; }\n", pfx, o.mapName, mapByName(o.mapName).typeText())
		case opAddChain:
			if o.hook != nil {
				fmt.Fprintf(&b, "add chain %s %s { %s; }\n", pfx, o.chain, o.hook.text())
			} else {
				fmt.Fprintf(&b, "add chain %s %s\n", pfx, o.chain)
			}
		case opFlushChain:
			fmt.Fprintf(&b, "flush chain %s %s\n", pfx, o.chain)
		case opDelChain:
			fmt.Fprintf(&b, "delete chain %s %s\n", pfx, o.chain)
		case opAddRule:
			fmt.Fprintf(&b, "add rule %s %s %s\n", pfx, o.chain, o.rule.text())
		case opAddElems, opDelElems:
			verb, parts := "add", make([]string, len(o.elems))
			for i, e := range o.elems {
				if o.kind == opDelElems {
					verb, parts[i] = "delete", e.keyText()
				} else {
					parts[i] = e.text()
				}
			}
			fmt.Fprintf(&b, "%s element %s %s { %s }\n", verb, pfx, o.mapName, strings.Join(parts, ", "))
		}
	}
	return b.String()
}

func (h *hook) text() string {
	return fmt.Sprintf("type %s hook %s priority %d; policy accept", h.typ, h.name, h.priority)
}

// elemsByMap groups elements per map, in the order of maps, keeping their order within a map.
func elemsByMap(els []elem) [][]elem {
	out := make([][]elem, len(tableMaps))
	for _, e := range els {
		for i, m := range tableMaps {
			if m.name == e.mapName {
				out[i] = append(out[i], e)
			}
		}
	}
	return out
}

// fullTx rebuilds the table from nothing, atomically: add (so that delete cannot fail), delete
// and re-create it, then every map, chain, rule and element.
func fullTx(us []*unit, mark uint32) *transaction {
	t := &transaction{}
	t.add(op{kind: opAddTable})
	t.add(op{kind: opDelTable})
	t.add(op{kind: opAddTable})
	for _, m := range tableMaps {
		t.add(op{kind: opAddMap, mapName: m.name})
	}
	chains := baseChains(mark)
	var els []elem
	for _, u := range us {
		cs, es := u.objects()
		chains = append(chains, cs...)
		els = append(els, es...)
	}
	for _, c := range chains {
		t.add(op{kind: opAddChain, chain: c.name, hook: c.hook})
	}
	for _, c := range chains {
		for _, r := range c.rules {
			t.add(op{kind: opAddRule, chain: c.name, rule: r})
		}
	}
	for i, es := range elemsByMap(els) {
		if len(es) > 0 {
			t.add(op{kind: opAddElems, mapName: tableMaps[i].name, elems: es})
		}
	}
	return t
}

// incrementalTx changes the table from the units in old to those in cur, touching only units
// that differ. Chains that are no longer used are flushed and returned as stale (chain name to
// unit key): they can only be deleted once nothing refers to them, in a later transaction.
func incrementalTx(old map[string]*unit, cur []*unit) (t *transaction, stale map[string]string, changed int) {
	stale = map[string]string{}
	t = &transaction{}
	var delEls, addEls []elem
	var addChains []chain
	var flush []string
	curKeys := make(map[string]bool, len(cur))
	diff := func(o, n *unit) {
		var oc, nc []chain
		var oe, ne []elem
		if o != nil {
			oc, oe = o.objects()
		}
		if n != nil {
			nc, ne = n.objects()
		}
		// A chain whose name and rules stay (an endpoint that remains) is left alone.
		newChains := make(map[string]string, len(nc))
		for _, c := range nc {
			newChains[c.name] = chainText(c)
		}
		same := map[string]bool{}
		for _, c := range oc {
			text, ok := newChains[c.name]
			switch {
			case !ok:
				flush = append(flush, c.name)
				stale[c.name] = o.key
			case text == chainText(c):
				same[c.name] = true
			default:
				flush = append(flush, c.name)
			}
		}
		for _, c := range nc {
			if !same[c.name] {
				addChains = append(addChains, c)
			}
		}
		newEls := make(map[elem]bool, len(ne))
		for _, e := range ne {
			newEls[e] = true
		}
		oldEls := make(map[elem]bool, len(oe))
		for _, e := range oe {
			oldEls[e] = true
			if !newEls[e] {
				delEls = append(delEls, e)
			}
		}
		for _, e := range ne {
			if !oldEls[e] {
				addEls = append(addEls, e)
			}
		}
	}
	for _, n := range cur {
		curKeys[n.key] = true
		o := old[n.key]
		if o != nil && o.equal(n) {
			continue
		}
		changed++
		diff(o, n)
	}
	var removed []string
	for k := range old {
		if !curKeys[k] {
			removed = append(removed, k)
		}
	}
	slices.Sort(removed)
	for _, k := range removed {
		changed++
		diff(old[k], nil)
	}
	// Deletions first so that keys can move between units; chains exist before rules refer
	// to them.
	for i, es := range elemsByMap(delEls) {
		if len(es) > 0 {
			t.add(op{kind: opDelElems, mapName: tableMaps[i].name, elems: es})
		}
	}
	for _, c := range addChains {
		t.add(op{kind: opAddChain, chain: c.name})
	}
	for _, name := range flush {
		t.add(op{kind: opFlushChain, chain: name})
	}
	for _, c := range addChains {
		for _, r := range c.rules {
			t.add(op{kind: opAddRule, chain: c.name, rule: r})
		}
	}
	for i, es := range elemsByMap(addEls) {
		if len(es) > 0 {
			t.add(op{kind: opAddElems, mapName: tableMaps[i].name, elems: es})
		}
	}
	return t, stale, changed
}

func chainText(c chain) string {
	parts := make([]string, len(c.rules))
	for i, r := range c.rules {
		parts[i] = r.text()
	}
	return strings.Join(parts, "\n")
}

// deleteChainsTx deletes chains (already flushed and unreferenced).
func deleteChainsTx(names []string) *transaction {
	t := &transaction{}
	for _, n := range names {
		t.add(op{kind: opDelChain, chain: n})
	}
	return t
}
