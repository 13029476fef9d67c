// Package e2e holds end-to-end tests that build the vm and relay binaries
// and run them as a user would: a real relay process on a loopback port,
// real QUIC, embedded NATS JetStream, and real speech in and out.
package e2e
