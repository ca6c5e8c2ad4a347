package deliver

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want string
	}{
		{
			name: "compact, integer expires_at, field order of the bot's sender",
			msg:  Message{AccessToken: "I0.b2F1dGgy@", RefreshToken: "rt-1", ExpiresAt: 1762984855},
			want: `{"access_token":"I0.b2F1dGgy@","refresh_token":"rt-1","expires_at":1762984855}`,
		},
		{
			name: "no HTML escaping",
			msg:  Message{AccessToken: "a<b>&c", RefreshToken: "r", ExpiresAt: 0},
			want: `{"access_token":"a<b>&c","refresh_token":"r","expires_at":0}`,
		},
		{
			name: "quotes and control characters escaped",
			msg:  Message{AccessToken: "a\"b\n", RefreshToken: `\`, ExpiresAt: -1},
			want: `{"access_token":"a\"b\n","refresh_token":"\\","expires_at":-1}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.msg.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Encode() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// Encode stops at the larger of the two receivers' limits; CheckSize
// applies each receiver's own, to the byte.
func TestEncodeSizeLimit(t *testing.T) {
	empty, err := Message{ExpiresAt: 1762984855}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	fill := func(size int) Message {
		return Message{AccessToken: strings.Repeat("a", size-len(empty)), ExpiresAt: 1762984855}
	}

	got, err := fill(MaxMessageNoAck).Encode()
	if err != nil {
		t.Fatalf("Encode() of %d bytes: %v", MaxMessageNoAck, err)
	}
	if len(got) != MaxMessageNoAck {
		t.Fatalf("Encode() = %d bytes, want %d", len(got), MaxMessageNoAck)
	}
	_, err = fill(MaxMessageNoAck + 1).Encode()
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encode() of %d bytes: error %v, want ErrTooLarge", MaxMessageNoAck+1, err)
	}
	if !strings.Contains(err.Error(), "8192 bytes, limit 8191") {
		t.Errorf("error %q does not give the size and limit", err)
	}
}

func TestCheckSize(t *testing.T) {
	tests := []struct {
		ack     Ack
		size    int
		wantErr string
	}{
		{AckOK, MaxMessage, ""},
		{AckOK, MaxMessage + 1, "message too large for the bot's receiver: 4096 bytes, limit 4095 (the bot reads once into 4096 bytes)"},
		{"", MaxMessage, ""},
		{"", MaxMessage + 1, "message too large for the bot's receiver: 4096 bytes, limit 4095 (the bot reads once into 4096 bytes)"},
		{AckNone, MaxMessage + 1, ""},
		{AckNone, MaxMessageNoAck, ""},
		{AckNone, MaxMessageNoAck + 1, "message too large for the bot's receiver: 8192 bytes, limit 8191 (the bot reads once into 8192 bytes)"},
	}
	for _, tt := range tests {
		err := CheckSize(make([]byte, tt.size), tt.ack)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("CheckSize(%d, %q) = %v, not ErrTooLarge", tt.size, tt.ack, err)
			}
		}
		if got != tt.wantErr {
			t.Errorf("CheckSize(%d, %q) = %q, want %q", tt.size, tt.ack, got, tt.wantErr)
		}
	}
}
