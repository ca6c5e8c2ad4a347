package harness

import (
	"encoding/json"
	"net/http"
)

// nestedRejection is Schwab's answer to a refresh token it does not accept:
// the real reason is JSON text inside error_description.
const nestedRejection = `{"error":"unsupported_token_type","error_description":"400 Bad Request: \"{\"error_description\":\"Exception while authenticating refresh token [...]\",\"error\":\"refresh_token_authentication_error\"}\""}`

// accessDeniedPage is the page the CDN in front of Schwab has served
// instead of a token response.
const accessDeniedPage = `<HTML><HEAD>
<TITLE>Access Denied</TITLE>
</HEAD><BODY>
<H1>Access Denied</H1>
 
You don't have permission to access "http&#58;&#47;&#47;api&#46;schwabapi&#46;com&#47;v1&#47;oauth&#47;token" on this server.<P>
Reference&#32;&#35;18&#46;4f1c2e17&#46;1762983055&#46;2a9d4c1
</BODY>
</HTML>
`

func gatewayPage(status string) string {
	return "<html>\r\n<head><title>" + status + "</title></head>\r\n<body>\r\n<center><h1>" +
		status + "</h1></center>\r\n</body>\r\n</html>\r\n"
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": description})
	writeRaw(w, status, "application/json", string(body))
}

func writeHTML(w http.ResponseWriter, status int, page string) {
	writeRaw(w, status, "text/html", page)
}

func writeRaw(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// cut closes the connection without an answer, as a network failure would.
func cut(w http.ResponseWriter) {
	if h, ok := w.(http.Hijacker); ok {
		if conn, _, err := h.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	// Without hijacking (HTTP/2) the server resets the stream instead.
	panic(http.ErrAbortHandler)
}
