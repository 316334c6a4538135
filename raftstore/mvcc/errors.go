package mvcc

import "errors"

// Errors callers test for. Their messages follow etcd's so that the etcd API
// layer can map each to the code etcd gives for it.
var (
	ErrCompacted     = errors.New("mvcc: required revision has been compacted")
	ErrFutureRev     = errors.New("mvcc: required revision is a future revision")
	ErrNoSpace       = errors.New("mvcc: database space exceeded")
	ErrEmptyKey      = errors.New("mvcc: key is not provided")
	ErrKeyNotFound   = errors.New("mvcc: key not found")
	ErrLeaseNotFound = errors.New("mvcc: requested lease not found")
	ErrLeaseExists   = errors.New("mvcc: lease already exists")
	ErrTooManyOps    = errors.New("mvcc: too many operations in txn request")
	ErrDuplicateKey  = errors.New("mvcc: duplicate key given in txn request")
	ErrInvalidSort   = errors.New("mvcc: invalid sort option")
	ErrValueProvided = errors.New("mvcc: value is provided")
	ErrLeaseProvided = errors.New("mvcc: lease is provided")
	ErrBadCompare    = errors.New("mvcc: malformed compare")
	ErrLeaseTTL      = errors.New("mvcc: too large lease TTL")
)
