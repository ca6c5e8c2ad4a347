package store

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/oauth"
	"go.yaml.in/yaml/v3"
)

// App holds the Schwab app credentials used for HTTP Basic auth.
type App = oauth.App

// appFile is the part of the shared app config that we read; other tools
// keep their own keys (app_name, callback_url, ...) in the same file.
type appFile struct {
	AppKey    string `yaml:"app_key"`
	AppSecret string `yaml:"app_secret"`
}

// maxAppConfig bounds the app config and each credential file: a few keys
// fit in a few hundred bytes, and yaml.v3 holds a whole document, and more,
// in memory while it parses.
const maxAppConfig = 64 << 10

// LoadApp reads the app config at path. A file named app_key or app_secret
// in credDir (systemd's $CREDENTIALS_DIRECTORY, may be empty) overrides the
// YAML value, so the secret need not sit in a world-visible config.
func LoadApp(path, credDir string) (App, error) {
	var app App
	key, keyOK, err := credential(credDir, "app_key")
	if err != nil {
		return app, err
	}
	secret, secretOK, err := credential(credDir, "app_secret")
	if err != nil {
		return app, err
	}

	data, err := readAppConfig(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && keyOK && secretOK:
		// Both come from credentials: the YAML file is optional.
	case errors.Is(err, fs.ErrNotExist):
		return app, exit.Fail(exit.NoInput, "pass --app-config with the YAML file that holds app_key and app_secret",
			"app config %s not found", path)
	case err != nil:
		return app, err
	default:
		var f appFile
		if err := yaml.Unmarshal(data, &f); err != nil {
			return app, exit.Fail(exit.Config, "fix the YAML syntax: a mapping with app_key and app_secret",
				"app config %s is not valid YAML: %s", path, yamlProblem(err))
		}
		app = App{Key: f.AppKey, Secret: f.AppSecret}
	}
	if keyOK {
		app.Key = key
	}
	if secretOK {
		app.Secret = secret
	}
	if app.Key == "" || app.Secret == "" {
		return app, exit.Fail(exit.Config, "set both app_key and app_secret (from the Schwab developer portal)",
			"app config %s: app_key and app_secret must both be set", path)
	}
	return app, nil
}

// readAppConfig reads the app config, at most 64 KiB of a regular file. A
// missing file is fs.ErrNotExist, for the caller to name; every other
// failure is an *exit.Error.
func readAppConfig(path string) ([]byte, error) {
	data, err := readFile(path, maxAppConfig)
	switch {
	case err == nil, errors.Is(err, fs.ErrNotExist):
		return data, err
	case errors.Is(err, errTooLarge):
		return nil, exit.Fail(exit.Config, "pass --app-config with the YAML file that holds app_key and app_secret (a few lines)",
			"app config %s is over 64 KiB: not an app config", path)
	case errors.Is(err, ErrNotRegular):
		return nil, exit.Fail(exit.NoInput, "pass --app-config with the YAML file that holds app_key and app_secret",
			"read app config: %w", err)
	}
	return nil, exit.Fail(exit.NoInput, "check the file's owner and mode against the service's User=", "read app config: %w", err)
}

// yamlProblem is a yaml error on one line that quotes nothing from the
// file: the file may hold nothing but the secret (a credential file passed
// by mistake), and yaml.v3 quotes values, keys, anchors and tags in its
// messages ("unknown anchor 'x' referenced", "cannot unmarshal !!str `x`",
// "mapping key \"x\" already defined"). Every quoted span is cut, and every
// word that starts like an anchor, alias or tag.
func yamlProblem(err error) string {
	// "into store.appFile" names a Go type, not the reader's file.
	msg := goType.ReplaceAllString(err.Error(), "into a mapping")
	// Backticks first, over the whole message: the value between them may
	// hold newlines.
	lines := strings.Split(cutQuoted(msg, '`'), "\n")
	for i, l := range lines {
		// A quoted punctuation mark is the syntax yaml expected: kept.
		l = quotedMark.ReplaceAllString(l, "\x00$1\x01")
		l = cutQuoted(cutQuoted(l, '\''), '"')
		l = strings.NewReplacer("\x00", "'", "\x01", "'").Replace(l)
		words := strings.Fields(l)
		kept := words[:0]
		for _, w := range words {
			if !strings.ContainsAny(w[:1], "!&*") || yamlTags[w] {
				kept = append(kept, w)
			}
		}
		lines[i] = strings.Join(kept, " ")
	}
	return strings.Replace(strings.Join(lines, "; "), "errors:;", "errors:", 1)
}

var goType = regexp.MustCompile(`into [A-Za-z_]\w*\.[A-Za-z_]\w*`)

var quotedMark = regexp.MustCompile(`'([[:punct:]])'`)

// yamlTags are the standard tags, which name a type, not a value.
var yamlTags = map[string]bool{"!!str": true, "!!int": true, "!!float": true, "!!bool": true,
	"!!null": true, "!!seq": true, "!!map": true, "!!binary": true, "!!timestamp": true, "!!merge": true}

// cutQuoted removes the span from the first quote q to the last, quotes
// included: a value may itself hold the quote character. A lone quote cuts
// the rest.
func cutQuoted(line string, q byte) string {
	i := strings.IndexByte(line, q)
	if i < 0 {
		return line
	}
	j := strings.LastIndexByte(line, q)
	if j == i {
		return line[:i]
	}
	return line[:i] + line[j+1:]
}

// credential reads one systemd credential; ok is false when there is none.
func credential(dir, name string) (value string, ok bool, err error) {
	if dir == "" {
		return "", false, nil
	}
	data, err := readFile(filepath.Join(dir, name), maxAppConfig)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if errors.Is(err, errTooLarge) {
		return "", false, exit.Fail(exit.Config, "check LoadCredential= in the unit", "credential %s is over 64 KiB", name)
	}
	if err != nil {
		return "", false, exit.Fail(exit.NoInput, "check LoadCredential= in the unit", "read credential %s: %w", name, err)
	}
	return string(bytes.TrimSpace(data)), true, nil
}

// LoadCallbackURL reads callback_url from the app config, the key schwab-py
// and the bot's own helper read too.
func LoadCallbackURL(path string) (string, error) {
	data, err := readAppConfig(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", exit.Fail(exit.NoInput, "login needs callback_url from the app config even when app_key and app_secret come from credentials: pass --app-config",
			"app config %s not found", path)
	}
	if err != nil {
		return "", err
	}
	var f struct {
		CallbackURL any `yaml:"callback_url"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return "", exit.Fail(exit.Config, "fix the YAML syntax", "app config %s is not valid YAML: %s", path, yamlProblem(err))
	}
	s, ok := f.CallbackURL.(string)
	if f.CallbackURL != nil && !ok {
		return "", exit.Fail(exit.Config, "set callback_url to a URL string, e.g. https://127.0.0.1:8182",
			"app config %s: callback_url is not a string", path)
	}
	return strings.TrimSpace(s), nil
}
