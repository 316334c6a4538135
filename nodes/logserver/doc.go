// Package logserver is the node daemon's HTTP log endpoint, kubelet's
// /containerLogs: the API server proxies `kubectl logs` (pods/log) to it.
//
//	GET /containerLogs/{namespace}/{pod}/{container}?follow=&previous=&timestamps=&tailLines=&sinceSeconds=&sinceTime=&limitBytes=
//	GET /healthz
//
// A Locator maps a pod's container to the log file of its current (or
// previous) instance; the daemon implements it from the runtime's container
// list, DirLocator reads the log directory alone. The file is read with
// nodes/podlogs, which does tail, since, timestamps, limits and follow.
//
// Requests are plain HTTP and authenticated by the function handed to
// Handler (BearerToken for a shared token); mutual TLS between the API
// server and nodes is issue 6's.
package logserver
