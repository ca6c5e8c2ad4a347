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

func TestEncodeSizeLimit(t *testing.T) {
	empty, err := Message{ExpiresAt: 1762984855}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	fill := func(size int) Message {
		return Message{AccessToken: strings.Repeat("a", size-len(empty)), ExpiresAt: 1762984855}
	}

	got, err := fill(MaxMessage).Encode()
	if err != nil {
		t.Fatalf("Encode() of %d bytes: %v", MaxMessage, err)
	}
	if len(got) != MaxMessage {
		t.Fatalf("Encode() = %d bytes, want %d", len(got), MaxMessage)
	}

	_, err = fill(MaxMessage + 1).Encode()
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encode() of %d bytes: error %v, want ErrTooLarge", MaxMessage+1, err)
	}
	if !strings.Contains(err.Error(), "4096 bytes") {
		t.Errorf("error %q does not give the size", err)
	}
}
