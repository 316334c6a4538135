package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/control/membership"
	"github.com/skiff-sh/skiff/raftstore"
	"github.com/skiff-sh/skiff/raftstore/etcdapi"
)

// autopilotInterval is how often the leader's autopilot looks at the servers.
const autopilotInterval = time.Second

// removalPrefix keeps the servers `skiff cluster remove` asked to remove from raft, one key
// per name; the leader's autopilot performs and deletes them.
const removalPrefix = "/skiff/cluster/remove/"

// raftHasState says whether this member has raft state: it bootstrapped, or a leader
// replicated to it.
func raftHasState(store *raftstore.Store) bool { return store.Raft().LastIndex() > 0 }

// bootstrapWhenExpected waits until Serf shows the expected number of servers, all started
// with the same --bootstrap-expect, and then bootstraps raft with them (every one of them
// does, with the same configuration, which raft allows); a server that finds an existing
// cluster waits to be added instead. Either way, once it has raft state it says so in its
// tags so that later servers join rather than bootstrap.
func bootstrapWhenExpected(ctx context.Context, store *raftstore.Store, m *membership.Membership, expect int, log *slog.Logger) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	bootstrapped := false
	for {
		if raftHasState(store) {
			if err := setTag(m, membership.TagRaftState, "true"); err != nil {
				log.Warn("skiff server: advertise raft state", "err", err)
			} else {
				return
			}
		} else if !bootstrapped {
			if peers, ok := membership.ShouldBootstrap(expect, m.Servers(), false); ok && slices.ContainsFunc(peers, func(p membership.Peer) bool { return p.Name == m.LocalMember().Name }) {
				conf := raft.Configuration{}
				var names []string
				for _, p := range peers {
					conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(p.Name), Address: raft.ServerAddress(p.RaftAddr), Suffrage: raft.Voter})
					names = append(names, p.Name)
				}
				err := store.Raft().BootstrapCluster(conf).Error()
				switch {
				case err == nil:
					log.Info("skiff server: bootstrapped raft with the expected servers", "servers", strings.Join(names, ","))
					bootstrapped = true
				case errors.Is(err, raft.ErrCantBootstrap):
					bootstrapped = true // state arrived from a peer meanwhile
				default:
					log.Warn("skiff server: bootstrap raft", "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// setTag sets one of this member's tags, keeping the others (SetTags adds the role itself).
func setTag(m *membership.Membership, key, value string) error {
	tags := m.Tags()
	if tags[key] == value {
		return nil
	}
	tags[key] = value
	delete(tags, membership.TagRole)
	return m.SetTags(tags)
}

// autopilot is the leader's care of the raft configuration, as Consul's and Nomad's
// autopilot: servers Serf knows and raft does not join as non-voters; a non-voter healthy
// (alive, heard from recently, not lagging) for the stabilization time is promoted; a server
// failed for removeAfter (or forced out with `skiff cluster remove`) is removed, never below
// quorum.
type autopilot struct {
	store       *raftstore.Store
	fwd         *etcdapi.Forwarder
	members     *membership.Membership
	cfg         membership.AutopilotConfig
	removeAfter time.Duration
	log         *slog.Logger
	stable      membership.StabilityTracker
}

// run works while this member leads (a store.OnLeader task).
func (a *autopilot) run(ctx context.Context) {
	a.stable = membership.StabilityTracker{}
	t := time.NewTicker(autopilotInterval)
	defer t.Stop()
	for {
		if err := a.step(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("autopilot", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *autopilot) step(ctx context.Context) error {
	st, err := a.store.Status(ctx)
	if err != nil {
		return err
	}
	inRaft := map[string]raftstore.Server{}
	var voters []string
	for _, s := range st.Servers {
		inRaft[s.Name] = s
		if s.Voter {
			voters = append(voters, s.Name)
		}
	}
	members := membership.FilterRole(a.members.Members(), membership.RoleServer)
	byName := map[string]membership.Member{}
	for _, m := range members {
		byName[m.Name] = m
	}
	var errs []error

	// Join: alive servers raft does not know.
	for _, m := range members {
		if _, known := inRaft[m.Name]; known || m.Status != membership.StatusAlive || m.Tags[membership.TagRaftAddr] == "" {
			continue
		}
		if err := a.store.AddNonvoter(ctx, m.Name, m.Tags[membership.TagRaftAddr]); err != nil {
			errs = append(errs, fmt.Errorf("add %s as a non-voter: %w", m.Name, err))
			continue
		}
		a.log.Info("autopilot: added a server as a non-voter", "server", m.Name, "raft", m.Tags[membership.TagRaftAddr])
	}

	// Remove: servers asked out, then servers dead for long enough.
	asked, err := a.removals(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	remove := membership.DeadServers(members, voters, time.Now(), a.removeAfter)
	for _, name := range asked {
		if m, ok := byName[name]; ok && m.Status == membership.StatusAlive {
			continue // it came back; it would have to be stopped first
		}
		if _, ok := inRaft[name]; ok && !slices.Contains(remove, name) && quorumWithout(voters, name, byName) {
			remove = append(remove, name)
		}
	}
	for _, name := range remove {
		if name == st.Name {
			continue
		}
		if _, ok := inRaft[name]; ok {
			if err := a.store.RemoveServer(ctx, name); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", name, err))
				continue
			}
			a.log.Info("autopilot: removed a server from raft", "server", name, "serf", byName[name].Status)
		}
		if slices.Contains(asked, name) {
			if _, err := a.store.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte(removalPrefix + name)}); err != nil {
				errs = append(errs, err)
			}
		}
	}

	// Promote: healthy non-voters, once stable.
	health := make([]membership.ServerHealth, 0, len(st.Servers))
	for _, s := range st.Servers {
		h := membership.ServerHealth{Name: s.Name, Status: byName[s.Name].Status, LastContact: -1}
		if s.Name == st.Name {
			h.Leader, h.LastContact, h.LastIndex, h.Status = true, 0, st.LastIndex, membership.StatusAlive
		} else {
			if !s.LastContact.IsZero() {
				h.LastContact = time.Since(s.LastContact)
			}
			if !s.Voter {
				sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				if ms, err := a.fwd.MemberStatus(sctx, s.Name); err == nil {
					h.LastIndex = ms.LastIndex
				}
				cancel()
			} else {
				h.LastIndex = st.LastIndex // voters are not candidates for promotion
			}
		}
		health = append(health, h)
	}
	health = a.stable.Observe(time.Now(), health, a.cfg)
	for _, name := range membership.Promotions(health, voters, a.cfg) {
		if err := a.store.AddVoter(ctx, name, inRaft[name].RaftAddr); err != nil {
			errs = append(errs, fmt.Errorf("promote %s: %w", name, err))
			continue
		}
		a.log.Info("autopilot: promoted a non-voter to voter", "server", name)
	}
	return errors.Join(errs...)
}

// quorumWithout says whether the alive voters stay a quorum of the configuration without name.
func quorumWithout(voters []string, name string, byName map[string]membership.Member) bool {
	rest := slices.DeleteFunc(slices.Clone(voters), func(v string) bool { return v == name })
	alive := 0
	for _, v := range rest {
		if byName[v].Status == membership.StatusAlive {
			alive++
		}
	}
	return len(rest) > 0 && alive >= len(rest)/2+1
}

// removals lists the servers `skiff cluster remove` asked out.
func (a *autopilot) removals(ctx context.Context) ([]string, error) {
	resp, err := a.store.Range(ctx, &pb.RangeRequest{Key: []byte(removalPrefix), RangeEnd: []byte(removalPrefix[:len(removalPrefix)-1] + "0"), KeysOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read removals: %w", err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), removalPrefix))
	}
	return out, nil
}

// requestRemoval is `skiff cluster remove NAME`: the server must not be alive; it is forced
// out of the gossip at once, and the leader's autopilot removes it from raft.
func requestRemoval(ctx context.Context, store *raftstore.Store, m *membership.Membership, name string) error {
	known := false
	if m != nil {
		for _, mem := range m.Members() {
			if mem.Name != name {
				continue
			}
			if mem.Status == membership.StatusAlive {
				return fmt.Errorf("%w: %s is alive; stop it first", apiserver.ErrServerAlive, name)
			}
			known = true
		}
	}
	servers, err := store.Servers(ctx)
	if err != nil {
		return err
	}
	known = known || slices.ContainsFunc(servers, func(s raftstore.Server) bool { return s.Name == name })
	if !known {
		return fmt.Errorf("%w: %s", apiserver.ErrNoSuchServer, name)
	}
	if name == store.Name() {
		return fmt.Errorf("%w: %s is the server answering; ask another one", apiserver.ErrServerAlive, name)
	}
	if _, err := store.Put(ctx, &pb.PutRequest{Key: []byte(removalPrefix + name), Value: []byte(time.Now().UTC().Format(time.RFC3339))}); err != nil {
		return err
	}
	if m != nil {
		if err := m.RemoveFailed(ctx, name); err != nil {
			return err
		}
	}
	return nil
}
