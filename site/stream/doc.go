// Package stream multiplexes the dashboard's watches into one response.
//
// A browser opens one stream (Handler); the stream lists, then watches, each
// resource the dashboard shows (Resources) by calling the API server's own
// handler in process with the browser's credentials, and writes everything
// as newline-delimited JSON frames (Frame). The browser keeps the last
// resourceVersion of each resource and passes them back when it reconnects;
// a resourceVersion past the store's history (410 Gone) makes the stream
// list that resource again and send a fresh SYNC frame, so the browser never
// polls and never has to relist by itself.
package stream
