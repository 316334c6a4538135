package proxy

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/google/nftables"
	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// applier writes transactions to a table. The kernel one is nftApplier; tests use an
// in-memory one that enforces the same rules.
type applier interface {
	apply(ctx context.Context, t *transaction) error
	// deleteTable removes the table if it exists.
	deleteTable(ctx context.Context) error
	// close releases the applier's resources.
	close() error
}

// nftApplier sends transactions over netlink into the network namespace netnsFD (0: ours).
type nftApplier struct {
	netnsFD int
	nl      *mdnetlink.Conn // lasting; nil until the first transaction, and after an error
}

var table = &nftables.Table{Name: tableName, Family: nftables.TableFamilyIPv4}

// maxElemsBytes bounds the element list of one netlink message: its nested attribute length
// is 16 bits.
const maxElemsBytes = 48 << 10

func (a *nftApplier) apply(ctx context.Context, t *transaction) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(t.ops) == 0 {
		return nil
	}
	c, sent, err := a.conn(ctx)
	if err != nil {
		return err
	}
	sets := map[string]*nftables.Set{}
	for _, m := range tableMaps {
		sets[m.name] = &nftables.Set{Table: table, Name: m.name, IsMap: true, Concatenation: true,
			KeyType: m.keyType(), DataType: nftables.TypeVerdict}
	}
	for _, o := range t.ops {
		switch o.kind {
		case opAddTable:
			c.AddTable(table)
		case opDelTable:
			c.DelTable(table)
		case opAddMap:
			if err := c.AddSet(sets[o.mapName], nil); err != nil {
				return fmt.Errorf("adding map %s: %w", o.mapName, err)
			}
		case opAddChain:
			ch := &nftables.Chain{Name: o.chain, Table: table}
			if o.hook != nil {
				prio := nftables.ChainPriority(o.hook.priority)
				num := o.hook.num
				ch.Hooknum, ch.Priority, ch.Type = &num, &prio, o.hook.typ
				ch.Policy = new(nftables.ChainPolicy)
				*ch.Policy = nftables.ChainPolicyAccept
			}
			c.AddChain(ch)
		case opFlushChain:
			c.FlushChain(&nftables.Chain{Name: o.chain, Table: table})
		case opDelChain:
			c.DelChain(&nftables.Chain{Name: o.chain, Table: table})
		case opAddRule:
			c.AddRule(&nftables.Rule{Table: table, Chain: &nftables.Chain{Name: o.chain, Table: table}, Exprs: o.rule.exprs()})
		case opAddElems, opDelElems:
			for _, chunk := range chunkElems(o.elems) {
				var err error
				if o.kind == opAddElems {
					err = c.SetAddElements(sets[o.mapName], chunk)
				} else {
					err = c.SetDeleteElements(sets[o.mapName], chunk)
				}
				if err != nil {
					return fmt.Errorf("encoding elements of %s: %w", o.mapName, err)
				}
			}
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("encoding a transaction of %d changes: %w", len(t.ops), err)
	}
	if err := *sent; err != nil {
		return fmt.Errorf("netlink transaction of %d changes: %w", len(t.ops), err)
	}
	return nil
}

// chunkElems splits elements into lists that fit one netlink message.
func chunkElems(els []elem) [][]nftables.SetElement {
	var out [][]nftables.SetElement
	var cur []nftables.SetElement
	size := 0
	for _, e := range els {
		n := 64 + len(e.chain)
		if size+n > maxElemsBytes && len(cur) > 0 {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, e.setElement())
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func (a *nftApplier) deleteTable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, sent, err := a.conn(ctx)
	if err != nil {
		return err
	}
	c.DelTable(table)
	if err := c.Flush(); err == nil {
		err = *sent
	}
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil
		}
		return fmt.Errorf("deleting table ip %s: %w", tableName, err)
	}
	return nil
}

// conn returns a google/nftables connection that encodes messages and hands the batch to
// send; *sent holds send's result once Flush returned.
//
// google/nftables' own Flush asks for an ack of every message (and an echo of every rule) and
// reads them one recvmsg at a time: at 10^5 messages that costs seconds and a receive buffer
// of hundreds of megabytes. send asks for one ack, of the last message: the kernel processes
// the whole batch inside sendmsg and reports every failed message anyway, so reading up to
// that ack sees every error.
func (a *nftApplier) conn(ctx context.Context) (*nftables.Conn, *error, error) {
	var sent error
	var done bool
	ack := []mdnetlink.Message{{Header: mdnetlink.Header{Type: mdnetlink.Error}, Data: make([]byte, 4)}}
	c, err := nftables.New(nftables.WithTestDial(func(req []mdnetlink.Message) ([]mdnetlink.Message, error) {
		if req != nil && !done {
			done = true
			sent = a.send(ctx, req)
		}
		// Every ack google/nftables waits for: the real outcome is in sent.
		return ack, nil
	}))
	if err != nil {
		return nil, nil, fmt.Errorf("nftables connection: %w", err)
	}
	return c, &sent, nil
}

// send sends one batch (begin, messages, end) into the namespace and waits for the kernel's
// verdict on it.
func (a *nftApplier) send(ctx context.Context, batch []mdnetlink.Message) error {
	if len(batch) < 3 {
		return nil
	}
	size := 0
	for i := range batch {
		m := &batch[i]
		m.Header.Sequence, m.Header.PID = 0, 0
		if i > 0 && i < len(batch)-1 {
			m.Header.Flags &^= mdnetlink.Acknowledge | mdnetlink.Echo
		}
		size += int(m.Header.Length)
	}
	last := &batch[len(batch)-2]
	last.Header.Flags |= mdnetlink.Acknowledge

	conn, err := a.dial()
	if err != nil {
		return err
	}
	// The whole batch is one sendmsg; SO_SNDBUFFORCE lifts net.core.wmem_max (it needs
	// CAP_NET_ADMIN, as programming nftables does).
	if err := setBuffers(conn, size+1<<20, 4<<20); err != nil {
		a.close()
		return fmt.Errorf("sizing netlink buffers for %d bytes: %w", size, err)
	}
	deadline := time.Now().Add(time.Minute)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		a.close()
		return fmt.Errorf("netlink deadline: %w", err)
	}
	sent, err := conn.SendMessages(batch)
	if err != nil {
		a.close()
		return fmt.Errorf("sending a batch of %d messages, %d bytes: %w", len(batch), size, err)
	}
	want := sent[len(sent)-2].Header.Sequence
	for {
		msgs, err := conn.Receive()
		if err != nil {
			// The first failed message; the kernel rolled the batch back. More errors
			// may be queued: start the next transaction on a fresh socket.
			a.close()
			return err
		}
		for _, m := range msgs {
			if m.Header.Type == mdnetlink.Error && m.Header.Sequence == want {
				return nil
			}
		}
	}
}

// dial returns the applier's netlink socket, opening it in the namespace if needed. It is kept
// between transactions: closing a netfilter netlink socket takes the kernel ~10 ms.
func (a *nftApplier) dial() (*mdnetlink.Conn, error) {
	if a.nl != nil {
		return a.nl, nil
	}
	conn, err := mdnetlink.Dial(unix.NETLINK_NETFILTER, &mdnetlink.Config{NetNS: a.netnsFD})
	if err != nil {
		return nil, fmt.Errorf("dialing nftables netlink: %w", err)
	}
	_ = conn.SetOption(mdnetlink.CapAcknowledge, true)
	_ = conn.SetOption(mdnetlink.ExtendedAcknowledge, true)
	a.nl = conn
	return conn, nil
}

// close closes the netlink socket, if open.
func (a *nftApplier) close() error {
	if a.nl == nil {
		return nil
	}
	err := a.nl.Close()
	a.nl = nil
	return err
}

func setBuffers(c *mdnetlink.Conn, snd, rcv int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = errors.Join(
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, snd),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcv))
	}); err != nil {
		return err
	}
	return serr
}
