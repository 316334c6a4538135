// Package podlogs writes and reads container log files in the CRI format that
// kubelet and containerd's CRI plugin use:
//
//	2016-10-06T00:17:09.669794202Z stdout F text
//
// one entry a line: an RFC 3339 timestamp, the stream, a tag (F for a full
// line, P for a piece of a line longer than MaxLineSize) and the content.
//
// The writing side runs as containerd's logging binary (LoggerMain, started by
// the shim through "binary://" IO), so a container's output keeps reaching its
// file while the node daemon is down. Files rotate by size: path, path.1, …,
// path.<MaxFiles-1>, path.1 being the newest rotated file.
//
// The reading side (Read) serves `kubectl logs`: tail, since, timestamps,
// limit, and follow across rotation, woken by inotify rather than polling.
package podlogs
