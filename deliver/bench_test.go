//go:build linux

package deliver

import (
	"net"
	"testing"
)

// A message with the sizes of real Schwab tokens.
var benchMessage = Message{
	AccessToken:  "I0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.access-token-0123456789abcdefghijklmnopqrstuvwxyz@",
	RefreshToken: "demo-refresh-token-0123456789",
	ExpiresAt:    1762984855,
}

func BenchmarkMessageEncode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := benchMessage.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSend is one delivery to a bot that answers OK: stat, connect,
// SO_PEERCRED, one write, the acknowledgement.
func BenchmarkSend(b *testing.B) {
	msg, err := benchMessage.Encode()
	if err != nil {
		b.Fatal(err)
	}
	s := serve(b, func(_ int, c net.Conn) { c.Write([]byte("OK")) })
	opt := Options{Retries: 1}
	b.ReportAllocs()
	for b.Loop() {
		if err := Send(b.Context(), s.path, msg, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendNoAck is one delivery with AckNone to a bot that reads and
// closes without a reply, as TokenReceiver: stat, connect, SO_PEERCRED, one
// write, the half-close and the bot's close.
func BenchmarkSendNoAck(b *testing.B) {
	msg, err := benchMessage.Encode()
	if err != nil {
		b.Fatal(err)
	}
	s := serve(b, nil)
	opt := Options{Retries: 1, Ack: AckNone}
	b.ReportAllocs()
	for b.Loop() {
		if err := Send(b.Context(), s.path, msg, opt); err != nil {
			b.Fatal(err)
		}
	}
}
