package refresh

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/refresh-token/refresh-token/refresh/oauth"
	"gopkg.in/yaml.v3"
)

// App holds the Schwab app credentials used for HTTP Basic auth.
type App = oauth.App

// appFile is the part of the shared app config that we read; other tools
// keep their own keys (app_name, callback_url, ...) in the same file.
type appFile struct {
	AppKey    string `yaml:"app_key"`
	AppSecret string `yaml:"app_secret"`
}

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

	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && keyOK && secretOK:
		// Both come from credentials: the YAML file is optional.
	case errors.Is(err, fs.ErrNotExist):
		return app, fail(ExitNoInput, "pass --app-config with the YAML file that holds app_key and app_secret",
			"app config %s not found", path)
	case err != nil:
		return app, fail(ExitNoInput, "check the file's permissions", "read app config: %w", err)
	default:
		var f appFile
		if err := yaml.Unmarshal(data, &f); err != nil {
			return app, fail(ExitConfig, "fix the YAML syntax: a mapping with app_key and app_secret",
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
		return app, fail(ExitConfig, "set both app_key and app_secret (from the Schwab developer portal)",
			"app config %s: app_key and app_secret must both be set", path)
	}
	return app, nil
}

// yamlProblem is a yaml error on one line, without the value it quotes
// between backticks (all of it: the value may hold backticks and newlines):
// the file may hold nothing but the secret (a credential file passed by
// mistake).
func yamlProblem(err error) string {
	msg := err.Error()
	if i, j := strings.IndexByte(msg, '`'), strings.LastIndexByte(msg, '`'); i >= 0 {
		msg = msg[:i] + msg[j+1:]
	}
	msg = strings.Replace(msg, "errors:\n", "errors: ", 1)
	return strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
}

// credential reads one systemd credential; ok is false when there is none.
func credential(dir, name string) (value string, ok bool, err error) {
	if dir == "" {
		return "", false, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fail(ExitNoInput, "check LoadCredential= in the unit", "read credential %s: %w", name, err)
	}
	return string(bytes.TrimSpace(data)), true, nil
}
