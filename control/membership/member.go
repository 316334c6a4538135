package membership

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/serf/serf"
)

// Role is what a member is in the cluster, carried in its TagRole tag.
type Role string

// The roles a member can have.
const (
	RoleServer Role = "server" // a control node: raft store, API server
	RoleNode   Role = "node"   // a node daemon
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r == RoleServer || r == RoleNode }

// Tag keys Skiff puts on its members. TagRole is set by Start from
// Config.Role; the others are the caller's to fill.
const (
	TagRole      = "role"       // Role of the member
	TagRaftAddr  = "raft"       // server: raft transport address host:port
	TagAPIAddr   = "api"        // server: API server address host:port
	TagSerfAddr  = "serf"       // server: advertised serf address host:port
	TagNodeName  = "node"       // node: Kubernetes Node name
	TagIP        = "ip"         // node: the node's IP address
	TagExpect    = "expect"     // server: its --bootstrap-expect value
	TagRaftState = "raft_state" // server: "true" once it has raft state (bootstrapped or joined)
)

// Status is a member's state in the gossip.
type Status string

// The statuses a member can have, as Serf reports them.
const (
	StatusAlive   Status = "alive"
	StatusLeaving Status = "leaving"
	StatusLeft    Status = "left"
	StatusFailed  Status = "failed"
	StatusUnknown Status = "unknown"
)

// Member is one process in the gossip, as this process sees it.
type Member struct {
	Name   string            `json:"name"`
	Role   Role              `json:"role,omitempty"` // from TagRole; empty if the member did not set one
	Addr   string            `json:"addr"`           // gossip address host:port
	Status Status            `json:"status"`
	Tags   map[string]string `json:"tags,omitempty"`
	// Since is when this process first saw the member in its current
	// Status (zero if it has not tracked the member yet). DeadServers uses
	// it to time removals.
	Since time.Time `json:"since,omitzero"`
}

// EventType is the kind of a membership Event.
type EventType int

// The event types, mirroring Serf's member events.
const (
	EventJoin   EventType = iota + 1 // a member joined (or rejoined)
	EventLeave                       // a member left gracefully
	EventFailed                      // a member stopped answering
	EventUpdate                      // a member changed its tags
	EventReap                        // a left or failed member was forgotten
)

func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventLeave:
		return "leave"
	case EventFailed:
		return "failed"
	case EventUpdate:
		return "update"
	case EventReap:
		return "reap"
	default:
		return "EventType(" + strconv.Itoa(int(t)) + ")"
	}
}

// Event is one change to one member. Events for the same member are
// delivered in the order Serf reported them. A graceful leave can show up
// as EventFailed followed shortly by EventLeave (Serf's "forced" leave)
// when the departure outruns the leave message; consumers should treat a
// later EventLeave as superseding the failure.
type Event struct {
	Type   EventType
	Member Member
}

func (e Event) String() string { return fmt.Sprintf("%s %s", e.Type, e.Member.Name) }

func fromSerfStatus(s serf.MemberStatus) Status {
	switch s {
	case serf.StatusAlive:
		return StatusAlive
	case serf.StatusLeaving:
		return StatusLeaving
	case serf.StatusLeft:
		return StatusLeft
	case serf.StatusFailed:
		return StatusFailed
	default:
		return StatusUnknown
	}
}

func fromSerfEventType(t serf.EventType) (EventType, bool) {
	switch t {
	case serf.EventMemberJoin:
		return EventJoin, true
	case serf.EventMemberLeave:
		return EventLeave, true
	case serf.EventMemberFailed:
		return EventFailed, true
	case serf.EventMemberUpdate:
		return EventUpdate, true
	case serf.EventMemberReap:
		return EventReap, true
	default:
		return 0, false
	}
}

func fromSerfMember(m serf.Member) Member {
	tags := make(map[string]string, len(m.Tags))
	for k, v := range m.Tags {
		tags[k] = v
	}
	return Member{
		Name:   m.Name,
		Role:   Role(m.Tags[TagRole]),
		Addr:   net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
		Status: fromSerfStatus(m.Status),
		Tags:   tags,
	}
}
