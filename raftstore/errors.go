package raftstore

import (
	"errors"

	"github.com/skiff-sh/skiff/raftstore/mvcc"
)

// Errors callers test for. The MVCC errors are re-exported so callers need
// only this package.
var (
	ErrCompacted     = mvcc.ErrCompacted
	ErrFutureRev     = mvcc.ErrFutureRev
	ErrNoSpace       = mvcc.ErrNoSpace
	ErrEmptyKey      = mvcc.ErrEmptyKey
	ErrKeyNotFound   = mvcc.ErrKeyNotFound
	ErrLeaseNotFound = mvcc.ErrLeaseNotFound
	ErrLeaseExists   = mvcc.ErrLeaseExists
	ErrLeaseTTL      = mvcc.ErrLeaseTTL
	ErrTooManyOps    = mvcc.ErrTooManyOps
	ErrDuplicateKey  = mvcc.ErrDuplicateKey
	ErrInvalidSort   = mvcc.ErrInvalidSort
	ErrValueProvided = mvcc.ErrValueProvided
	ErrLeaseProvided = mvcc.ErrLeaseProvided
	ErrBadCompare    = mvcc.ErrBadCompare

	ErrRequestTooLarge = errors.New("raftstore: request is too large")
	ErrNoLeader        = errors.New("raftstore: no leader")
	ErrLeaderChanged   = errors.New("raftstore: leader changed")
	ErrTimeout         = errors.New("raftstore: request timed out")
	ErrStopped         = errors.New("raftstore: server stopped")
	ErrUnknownCommand  = errors.New("raftstore: unknown command type")
	ErrCorruptCommand  = errors.New("raftstore: corrupt command")
	ErrNotLeader       = errors.New("raftstore: not leader")
	ErrUnknownMember   = errors.New("raftstore: member not found")
)

// resultErrors lists the errors that travel between members as a result code.
// The list is append-only: an index is part of the wire format.
var resultErrors = []error{
	nil,
	ErrCompacted,
	ErrFutureRev,
	ErrNoSpace,
	ErrEmptyKey,
	ErrKeyNotFound,
	ErrLeaseNotFound,
	ErrLeaseExists,
	ErrLeaseTTL,
	ErrTooManyOps,
	ErrDuplicateKey,
	ErrInvalidSort,
	ErrValueProvided,
	ErrLeaseProvided,
	ErrBadCompare,
	ErrRequestTooLarge,
	ErrNoLeader,
	ErrLeaderChanged,
	ErrTimeout,
	ErrStopped,
	ErrUnknownCommand,
	ErrCorruptCommand,
	ErrNotLeader,
	ErrUnknownMember,
}

// ErrorCode returns the wire code of a known error, or -1.
func ErrorCode(err error) int {
	for i, e := range resultErrors {
		if i > 0 && errors.Is(err, e) {
			return i
		}
	}
	if err == nil {
		return 0
	}
	return -1
}

// ErrorFromCode is the inverse of ErrorCode; unknown codes give nil, false.
func ErrorFromCode(code int) (error, bool) {
	if code <= 0 || code >= len(resultErrors) {
		return nil, false
	}
	return resultErrors[code], true
}
