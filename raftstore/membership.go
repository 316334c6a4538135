package raftstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Status is one member's view of the cluster.
type Status struct {
	Name            string
	ID              uint64
	Role            string // Leader, Follower, Candidate, Shutdown
	Term            uint64
	Leader          string
	LeaderID        uint64
	CommitIndex     uint64
	AppliedIndex    uint64
	LastIndex       uint64
	LastContact     time.Time // last contact with the leader; zero on the leader
	Revision        int64
	CompactRevision int64
	SizeBytes       int64
	QuotaBytes      int64
	Servers         []Server
}

// Server is a raft configuration entry joined with the member's URLs.
type Server struct {
	Name      string
	ID        uint64
	RaftAddr  string
	ClientURL string
	Voter     bool
	// LastContact is when the member last answered this one's
	// AppendEntries: known on the leader only (zero elsewhere, and for the
	// leader itself).
	LastContact time.Time
}

// Status reports this member's raft state and its view of the membership.
func (s *Store) Status(ctx context.Context) (*Status, error) {
	stats := s.Stats()
	st := &Status{
		Name:            s.cfg.Name,
		ID:              s.memberID,
		Role:            s.raft.State().String(),
		Term:            stats.Term,
		CommitIndex:     stats.CommitIndex,
		AppliedIndex:    stats.AppliedIndex,
		LastIndex:       s.raft.LastIndex(),
		Revision:        stats.Revision,
		CompactRevision: stats.CompactRevision,
		SizeBytes:       stats.SizeBytes,
		QuotaBytes:      stats.QuotaBytes,
	}
	if s.raft.State() != raft.Leader {
		st.LastContact = s.raft.LastContact()
	}
	if _, leader := s.raft.LeaderWithID(); leader != "" {
		st.Leader = string(leader)
		st.LeaderID = MemberID(string(leader))
	}
	servers, err := s.Servers(ctx)
	if err != nil {
		return nil, err
	}
	st.Servers = servers
	return st, nil
}

// Servers lists the raft configuration with each member's recorded URLs.
func (s *Store) Servers(ctx context.Context) ([]Server, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raftstore: read configuration: %w", err)
	}
	var out []Server
	for _, srv := range f.Configuration().Servers {
		sv := Server{Name: string(srv.ID), ID: MemberID(string(srv.ID)), RaftAddr: string(srv.Address), Voter: srv.Suffrage == raft.Voter}
		if s.raft.State() == raft.Leader && srv.ID != raft.ServerID(s.cfg.Name) {
			sv.LastContact, _ = s.trans.lastContact(srv.ID)
		}
		if m, ok := s.fsm.member(string(srv.ID)); ok && len(m.ClientURLs) > 0 {
			sv.ClientURL = m.ClientURLs[0]
		}
		out = append(out, sv)
	}
	return out, nil
}

// MemberList reports the members as etcd does; nonvoters are learners.
func (s *Store) MemberList(ctx context.Context) (*pb.MemberListResponse, error) {
	servers, err := s.Servers(ctx)
	if err != nil {
		return nil, err
	}
	resp := &pb.MemberListResponse{Header: s.header(s.Rev())}
	for _, sv := range servers {
		m := &pb.Member{ID: sv.ID, Name: sv.Name, PeerURLs: []string{sv.RaftAddr}, IsLearner: !sv.Voter}
		if sv.ClientURL != "" {
			m.ClientURLs = []string{sv.ClientURL}
		}
		resp.Members = append(resp.Members, m)
	}
	return resp, nil
}

// ClientURL returns the recorded etcd API address of a member.
func (s *Store) ClientURL(name string) (string, bool) {
	m, ok := s.fsm.member(name)
	if !ok || len(m.ClientURLs) == 0 {
		return "", false
	}
	return m.ClientURLs[0], true
}

// AddVoter adds a voting member (or promotes a nonvoter). Leader only.
func (s *Store) AddVoter(ctx context.Context, name, raftAddr string) error {
	return s.configChange(ctx, func(timeout time.Duration) raft.IndexFuture {
		return s.raft.AddVoter(raft.ServerID(name), raft.ServerAddress(raftAddr), 0, timeout)
	})
}

// AddNonvoter adds a member that replicates but does not vote. Leader only.
func (s *Store) AddNonvoter(ctx context.Context, name, raftAddr string) error {
	return s.configChange(ctx, func(timeout time.Duration) raft.IndexFuture {
		return s.raft.AddNonvoter(raft.ServerID(name), raft.ServerAddress(raftAddr), 0, timeout)
	})
}

// RemoveServer removes a member. Leader only.
func (s *Store) RemoveServer(ctx context.Context, name string) error {
	return s.configChange(ctx, func(timeout time.Duration) raft.IndexFuture {
		return s.raft.RemoveServer(raft.ServerID(name), 0, timeout)
	})
}

func (s *Store) configChange(ctx context.Context, change func(time.Duration) raft.IndexFuture) error {
	if s.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	timeout := s.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := change(timeout).Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return ErrNotLeader
		}
		return fmt.Errorf("raftstore: change membership: %w", err)
	}
	return nil
}

// TransferLeadership hands leadership to the named member, or to the most
// up-to-date one if name is empty. Leader only.
func (s *Store) TransferLeadership(ctx context.Context, name string) error {
	if s.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	var f raft.Future
	if name == "" {
		f = s.raft.LeadershipTransfer()
	} else {
		servers, err := s.Servers(ctx)
		if err != nil {
			return err
		}
		var addr string
		for _, sv := range servers {
			if sv.Name == name {
				addr = sv.RaftAddr
			}
		}
		if addr == "" {
			return fmt.Errorf("%w: %q", ErrUnknownMember, name)
		}
		f = s.raft.LeadershipTransferToServer(raft.ServerID(name), raft.ServerAddress(addr))
	}
	if err := f.Error(); err != nil {
		return fmt.Errorf("raftstore: transfer leadership: %w", err)
	}
	return nil
}
