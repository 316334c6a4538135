package proxy

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The table and the names of its fixed objects.
const (
	tableName = "skiff"

	mapServiceIPs          = "service-ips"
	mapServiceNodePorts    = "service-nodeports"
	mapNoEndpointServices  = "no-endpoint-services"
	mapNoEndpointNodePorts = "no-endpoint-nodeports"

	chainServices      = "services"
	chainEndpointCheck = "service-endpoints-check"
	chainReject        = "reject-chain"
	chainMarkMasq      = "mark-for-masquerade"
	chainMasquerading  = "masquerading"
)

// A statement is one piece of a rule, known both as nft syntax (as `nft list` prints it, and
// as `nft -f` accepts it) and as the expressions google/nftables sends. Keeping both in one
// value is what lets the golden files and the kernel check each other.
type statement interface {
	text() string
	exprs() []expr.Any
}

// rule is a sequence of statements.
type rule []statement

func (r rule) text() string {
	parts := make([]string, len(r))
	for i, s := range r {
		parts[i] = s.text()
	}
	return strings.Join(parts, " ")
}

func (r rule) exprs() []expr.Any {
	var out []expr.Any
	for _, s := range r {
		out = append(out, s.exprs()...)
	}
	return out
}

// hook makes a chain a base chain.
type hook struct {
	typ      nftables.ChainType // filter or nat
	name     string             // prerouting, input, forward, output, postrouting
	num      nftables.ChainHook
	priority int32
}

// chain is a chain and its rules, in order.
type chain struct {
	name  string
	hook  *hook
	rules []rule
}

// mapDef is one of the table's verdict maps: keyed by address . protocol . port, or by
// protocol . port.
type mapDef struct {
	name     string
	withAddr bool
}

func (m mapDef) keyType() nftables.SetDatatype {
	if m.withAddr {
		return nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	}
	return nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
}

func (m mapDef) typeText() string {
	if m.withAddr {
		return "ipv4_addr . inet_proto . inet_service : verdict"
	}
	return "inet_proto . inet_service : verdict"
}

var tableMaps = []mapDef{
	{mapServiceIPs, true},
	{mapServiceNodePorts, false},
	{mapNoEndpointServices, true},
	{mapNoEndpointNodePorts, false},
}

func mapByName(name string) mapDef {
	for _, m := range tableMaps {
		if m.name == name {
			return m
		}
	}
	panic("proxy: unknown map " + name)
}

// elem is one map element: key and verdict (always a goto).
type elem struct {
	mapName string
	addr    netip.Addr // only for maps keyed with an address
	proto   proto
	port    uint16
	chain   string
}

func (e elem) keyText() string {
	if e.addr.IsValid() {
		return fmt.Sprintf("%s . %s . %d", e.addr, e.proto, e.port)
	}
	return fmt.Sprintf("%s . %d", e.proto, e.port)
}

func (e elem) text() string { return e.keyText() + " : goto " + e.chain }

// key is the element's key as the kernel stores it: each field padded to 4 bytes.
func (e elem) key() []byte {
	var b []byte
	if e.addr.IsValid() {
		a := e.addr.As4()
		b = append(b, a[:]...)
	}
	b = append(b, byte(e.proto), 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, e.port)
	return append(b, 0, 0)
}

func (e elem) setElement() nftables.SetElement {
	return nftables.SetElement{Key: e.key(), VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: e.chain}}
}

// --- statements ---

type ctStateNew struct{}

func (ctStateNew) text() string { return "ct state new" }
func (ctStateNew) exprs() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// vmapLookup is `[ip daddr .] meta l4proto . th dport vmap @map`.
type vmapLookup struct{ m mapDef }

func (s vmapLookup) text() string {
	if s.m.withAddr {
		return "ip daddr . meta l4proto . th dport vmap @" + s.m.name
	}
	return "meta l4proto . th dport vmap @" + s.m.name
}

func (s vmapLookup) exprs() []expr.Any {
	// Concatenations live in consecutive 32-bit registers: NFT_REG32_00 is 8, and the
	// 128-bit register 1 overlays it, which is how nft numbers them.
	var out []expr.Any
	reg := uint32(1)
	next := uint32(8)
	if s.m.withAddr {
		out = append(out, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4})
		reg, next = 9, 9
	}
	out = append(out,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg},
		&expr.Payload{DestRegister: next + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: s.m.name},
	)
	return out
}

type fibDaddrLocal struct{}

func (fibDaddrLocal) text() string { return "fib daddr type local" }
func (fibDaddrLocal) exprs() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

type daddrNotLoopback struct{}

func (daddrNotLoopback) text() string { return "ip daddr != 127.0.0.0/8" }
func (daddrNotLoopback) exprs() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{127}},
	}
}

// markSet is `meta mark set meta mark | bit` (or ^ bit with xor).
type markSet struct {
	bit uint32
	xor bool
}

func (s markSet) text() string {
	op := "|"
	if s.xor {
		op = "^"
	}
	return fmt.Sprintf("meta mark set meta mark %s 0x%08x", op, s.bit)
}

func (s markSet) exprs() []expr.Any {
	mask := ^s.bit
	if s.xor {
		mask = 0xffffffff
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: binaryutil.NativeEndian.PutUint32(s.bit)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}
}

// markUnset is `meta mark & bit == 0`.
type markUnset struct{ bit uint32 }

func (s markUnset) text() string { return fmt.Sprintf("meta mark & 0x%08x == 0x00000000", s.bit) }
func (s markUnset) exprs() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(s.bit), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)},
	}
}

// verdictStmt is jump, goto or return.
type verdictStmt struct {
	kind  expr.VerdictKind
	chain string
}

func jump(c string) verdictStmt  { return verdictStmt{expr.VerdictJump, c} }
func gotoC(c string) verdictStmt { return verdictStmt{expr.VerdictGoto, c} }

func (s verdictStmt) text() string {
	switch s.kind {
	case expr.VerdictJump:
		return "jump " + s.chain
	case expr.VerdictGoto:
		return "goto " + s.chain
	default:
		return "return"
	}
}

func (s verdictStmt) exprs() []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: s.kind, Chain: s.chain}}
}

type masquerade struct{}

func (masquerade) text() string      { return "masquerade fully-random" }
func (masquerade) exprs() []expr.Any { return []expr.Any{&expr.Masq{FullyRandom: true}} }

type saddrIs struct{ ip netip.Addr }

func (s saddrIs) text() string { return "ip saddr " + s.ip.String() }
func (s saddrIs) exprs() []expr.Any {
	a := s.ip.As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
	}
}

// dnatTo is `meta l4proto P dnat to IP:port` (nft needs the protocol to rewrite a port).
type dnatTo struct {
	proto proto
	ep    Endpoint
}

func (s dnatTo) text() string {
	return fmt.Sprintf("meta l4proto %s dnat to %s", s.proto, s.ep)
}

func (s dnatTo) exprs() []expr.Any {
	a := s.ep.IP.As4()
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(s.proto)}},
		&expr.Immediate{Register: 1, Data: a[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(uint16(s.ep.Port))},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

// numgenIs is `numgen random mod N 0`: true with probability 1/N.
type numgenIs struct{ mod uint32 }

func (s numgenIs) text() string { return fmt.Sprintf("numgen random mod %d 0", s.mod) }
func (s numgenIs) exprs() []expr.Any {
	return []expr.Any{
		&expr.Numgen{Register: 1, Modulus: s.mod, Type: unix.NFT_NG_RANDOM},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)},
	}
}

// reject answers TCP with a reset and everything else with ICMP port unreachable.
type reject struct{ tcp bool }

func (s reject) text() string {
	if s.tcp {
		return "reject with tcp reset"
	}
	return "reject"
}

func (s reject) exprs() []expr.Any {
	if s.tcp {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(protoTCP)}},
			&expr.Reject{Type: unix.NFT_REJECT_TCP_RST, Code: 0},
		}
	}
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3}} // ICMP_PORT_UNREACH
}

// --- the ruleset ---

// baseChains are the chains every sync (re)creates, in the order they are listed: hooks first.
// Filter chains run before DNAT (priority dstnat-10) so they see the service address; reject
// is only valid in input, forward and output, hence three of them, as in kube-proxy.
func baseChains(mark uint32) []chain {
	checkNew := rule{ctStateNew{}, jump(chainEndpointCheck)}
	return []chain{
		{name: "filter-input", hook: &hook{nftables.ChainTypeFilter, "input", *nftables.ChainHookInput, -110}, rules: []rule{checkNew}},
		{name: "filter-forward", hook: &hook{nftables.ChainTypeFilter, "forward", *nftables.ChainHookForward, -110}, rules: []rule{checkNew}},
		{name: "filter-output", hook: &hook{nftables.ChainTypeFilter, "output", *nftables.ChainHookOutput, -110}, rules: []rule{checkNew}},
		{name: "nat-prerouting", hook: &hook{nftables.ChainTypeNAT, "prerouting", *nftables.ChainHookPrerouting, -100}, rules: []rule{{jump(chainServices)}}},
		{name: "nat-output", hook: &hook{nftables.ChainTypeNAT, "output", *nftables.ChainHookOutput, -100}, rules: []rule{{jump(chainServices)}}},
		{name: "nat-postrouting", hook: &hook{nftables.ChainTypeNAT, "postrouting", *nftables.ChainHookPostrouting, 100}, rules: []rule{{jump(chainMasquerading)}}},
		{name: chainEndpointCheck, rules: []rule{
			{vmapLookup{mapByName(mapNoEndpointServices)}},
			{fibDaddrLocal{}, daddrNotLoopback{}, vmapLookup{mapByName(mapNoEndpointNodePorts)}},
		}},
		{name: chainReject, rules: []rule{{reject{tcp: true}}, {reject{}}}},
		{name: chainServices, rules: []rule{
			{vmapLookup{mapByName(mapServiceIPs)}},
			{fibDaddrLocal{}, daddrNotLoopback{}, vmapLookup{mapByName(mapServiceNodePorts)}},
		}},
		{name: chainMarkMasq, rules: []rule{{markSet{bit: mark}}}},
		{name: chainMasquerading, rules: []rule{
			{markUnset{mark}, verdictStmt{kind: expr.VerdictReturn}},
			{markSet{bit: mark, xor: true}},
			{masquerade{}},
		}},
	}
}

// objects are the chains and map elements of one unit.
func (u *unit) objects() ([]chain, []elem) {
	if len(u.endpoints) == 0 {
		var els []elem
		if u.clusterIP.IsValid() {
			els = append(els, elem{mapNoEndpointServices, u.clusterIP, u.proto, u.port, chainReject})
		}
		if u.nodePort != 0 {
			els = append(els, elem{mapNoEndpointNodePorts, netip.Addr{}, u.proto, u.nodePort, chainReject})
		}
		return nil, els
	}
	svc := chain{name: u.svcChain()}
	var chains []chain
	n := len(u.endpoints)
	for i, e := range u.endpoints {
		ep := chain{name: u.epChain(e), rules: []rule{
			{saddrIs{e.IP}, jump(chainMarkMasq)},
			{dnatTo{u.proto, e}},
		}}
		chains = append(chains, ep)
		// Endpoint i of n is taken with probability 1/(n-i) once 0..i-1 were not: uniform.
		if i == n-1 {
			svc.rules = append(svc.rules, rule{gotoC(ep.name)})
		} else {
			svc.rules = append(svc.rules, rule{numgenIs{uint32(n - i)}, gotoC(ep.name)})
		}
	}
	chains = append([]chain{svc}, chains...)
	var els []elem
	if u.clusterIP.IsValid() {
		els = append(els, elem{mapServiceIPs, u.clusterIP, u.proto, u.port, svc.name})
	}
	if u.nodePort != 0 {
		ext := chain{name: u.extChain(), rules: []rule{{jump(chainMarkMasq)}, {gotoC(svc.name)}}}
		chains = append(chains, ext)
		els = append(els, elem{mapServiceNodePorts, netip.Addr{}, u.proto, u.nodePort, ext.name})
	}
	return chains, els
}
