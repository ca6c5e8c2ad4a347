package deliver_test

import (
	"fmt"

	"github.com/refresh-token/refresh-token/deliver"
)

func ExampleMessage_Encode() {
	msg, err := deliver.Message{
		AccessToken:  "I0.access",
		RefreshToken: "refresh",
		ExpiresAt:    1762984855,
	}.Encode()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", msg)
	// Output: {"access_token":"I0.access","refresh_token":"refresh","expires_at":1762984855}
}
