// Package client is the client side of the vm protocol, shared by the vm
// commands and the terminal UI.
//
// Dial opens a QUIC connection to a relay and pins the relay's certificate
// key in known_relays on first use. Conn.Login then proves the identity
// key, and the other Conn methods send one request each on a new stream,
// so one Conn serves concurrent callers. The package also stores the
// identity key pair and the record of fetched messages, and retries
// transient failures with Retry.
package client
