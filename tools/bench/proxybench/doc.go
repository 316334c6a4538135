// Package proxybench is `skiff bench proxy`: how long Skiff's proxier (nodes/proxy) takes to
// program Services into nftables, side by side with its anchor, the `nft -f` CLI loading the
// same changes as text.
//
// For each size N it creates a throwaway network namespace, builds N ClusterIP services (one
// TCP port, Config.Endpoints endpoints each, addresses in 10.96.0.0/12 and 10.128.0.0/9
// inside that namespace only) and times:
//
//   - full sync: the first Proxier.Sync, one netlink transaction that builds the table;
//   - one change: a Sync after one endpoint of one service was replaced, which writes only
//     that service (one transaction) and deletes the stale endpoint chain (a second one).
//
// The anchor runs in a second throwaway namespace: `nft -f` of proxy.FullScript, then of
// proxy.IncrementalScript for the same change — the same transactions as nft syntax. Its
// time includes starting nft, as any user of the CLI pays it. Ratios are nft/skiff, so
// bigger is better for Skiff.
//
// The last line is `proxy: full sync N svcs=Nms one change=Nms`, for the largest size. It
// needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for the namespaces) and the nft binary, and
// touches nothing outside the namespaces it creates.
package proxybench
