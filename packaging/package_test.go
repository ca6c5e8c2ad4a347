package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The .deb that make release makes, built with a fixed version into a
// temp dir (amd64 alone, with the installed Go): its control fields, its
// files, and its one conffile.
func TestDebPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package: not in -short")
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed: the .deb is not checked (apt-get install dpkg)")
	}
	dist := t.TempDir()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "release.sh"), "v9.8.7")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DIST="+dist, "ARCHES=amd64", "RELEASE_GO=local", "NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, out)
	}
	deb := filepath.Join(dist, "refresh-token_9.8.7_amd64.deb")
	field := func(name string) string {
		out, err := exec.Command("dpkg-deb", "-f", deb, name).Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	for name, want := range map[string]string{
		"Package": "refresh-token", "Version": "9.8.7-1", "Architecture": "amd64", "Section": "net",
		"Maintainer": "refresh-token authors <refresh-token@users.noreply.github.com>",
	} {
		if got := field(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	out, err := exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if owner := f[1]; owner != "root/root" && owner != "0/0" {
			t.Errorf("%s owned by %s", f[len(f)-1], owner)
		}
		files = append(files, strings.TrimPrefix(f[len(f)-1], "."))
	}
	for _, want := range []string{
		"/usr/bin/refresh-token",
		"/usr/lib/systemd/system/refresh-token.service",
		"/usr/lib/systemd/system/refresh-token.timer",
		"/etc/default/refresh-token",
		"/usr/share/man/man1/refresh-token.1.gz",
		"/usr/share/doc/refresh-token/copyright",
		"/usr/share/doc/refresh-token/changelog.Debian.gz",
		"/usr/share/doc/refresh-token/README.md",
		"/usr/share/doc/refresh-token/BOT.md",
		"/usr/share/doc/refresh-token/examples/refresh-token.env",
		"/usr/share/lintian/overrides/refresh-token",
	} {
		if !slices.Contains(files, want) {
			t.Errorf("the package lacks %s", want)
		}
	}
	if slices.ContainsFunc(files, func(f string) bool { return strings.Contains(f, "bot-sim") }) {
		t.Error("the package holds bot-sim, a test harness")
	}
	ctl := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-e", deb, ctl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, out)
	}
	if c, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); strings.TrimSpace(string(c)) != "/etc/default/refresh-token" {
		t.Errorf("conffiles %q, want /etc/default/refresh-token alone", c)
	}
	for _, s := range []string{"postinst", "postrm"} {
		if b, _ := os.ReadFile(filepath.Join(ctl, s)); !strings.Contains(string(b), "systemctl --system daemon-reload") || strings.Contains(string(b), "systemctl enable") || strings.Contains(string(b), "systemctl start") {
			t.Errorf("%s only reloads systemd, enabling nothing:\n%s", s, b)
		}
	}
	x := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, x).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	unit, _ := os.ReadFile(filepath.Join(x, "usr/lib/systemd/system/refresh-token.service"))
	if !strings.Contains(string(unit), "ExecStart=/usr/bin/refresh-token") || strings.Contains(string(unit), "/usr/local/") {
		t.Errorf("the unit does not run /usr/bin/refresh-token alone:\n%s", unit)
	}
	v, err := exec.Command(filepath.Join(x, "usr/bin/refresh-token"), "--version").Output()
	if err != nil || !strings.HasPrefix(string(v), "refresh-token 9.8.7 (commit ") {
		t.Errorf("--version: %q, %v", v, err)
	}
}
