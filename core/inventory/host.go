package inventory

import (
	"net/netip"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/inventory/labels"
)

// Limits on host fields.
const (
	MaxHostNameLen     = 253
	MaxAddressLen      = 253
	MaxExecutorNameLen = 63
	MaxLabels          = 64
)

// OS is the operating system family of a host. Executors use it to pick a
// shell, a path syntax or a protocol default.
type OS string

// The operating systems a host may have.
const (
	OSLinux   OS = "linux"
	OSWindows OS = "windows"
	OSDarwin  OS = "darwin"
	OSOther   OS = "other"
)

// OSes lists every OS, for exhaustive mapping tests.
func OSes() []OS { return []OS{OSLinux, OSWindows, OSDarwin, OSOther} }

func (o OS) valid() bool {
	for _, v := range OSes() {
		if o == v {
			return true
		}
	}
	return false
}

// Host is one target machine (or service endpoint) in a project.
type Host struct {
	ID        string
	ProjectID string
	Name      string
	// Address is a DNS name or an IP address, without a port.
	Address string
	// Port is nil when the executor's default applies.
	Port *int
	OS   OS
	// Labels are key/value pairs that host groups select on.
	Labels map[string]string
	// DefaultExecutor names the executor plugin used when a step does not
	// choose one ("" for none).
	DefaultExecutor string
	// DefaultCredentialID is the credential used when a step does not choose
	// one ("" for none). It belongs to the same project.
	DefaultCredentialID string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// HostFilter narrows a host list. Its zero value selects every host of the
// project.
type HostFilter struct {
	ProjectID string
	// Search matches a substring of the name or the address.
	Search string
	// Selector, when set, keeps the hosts whose labels it matches.
	Selector *labels.Selector
	// StaticGroupID, when set, keeps the static members of that group.
	StaticGroupID string
	OS            OS
}

func (h *Host) validate() error {
	if err := core.CheckName("name", h.Name, MaxHostNameLen); err != nil {
		return err
	}
	addr, err := checkAddress(h.Address)
	if err != nil {
		return err
	}
	h.Address = addr
	if h.Port != nil && (*h.Port < 1 || *h.Port > 65535) {
		return core.Invalid("port", "must be between 1 and 65535, got %d", *h.Port)
	}
	if h.OS == "" {
		h.OS = OSLinux
	}
	if !h.OS.valid() {
		return core.Invalid("os", "unknown OS %q", h.OS)
	}
	if len(h.Labels) > MaxLabels {
		return core.Invalid("labels", "at most %d labels, got %d", MaxLabels, len(h.Labels))
	}
	if err := labels.Validate(h.Labels); err != nil {
		return core.Invalid("labels", "%s", err.Error())
	}
	if h.DefaultExecutor != "" {
		if err := core.CheckName("defaultExecutor", h.DefaultExecutor, MaxExecutorNameLen); err != nil {
			return err
		}
	}
	if h.DefaultCredentialID != "" {
		if err := core.CheckID("defaultCredentialId", core.KindCredential, h.DefaultCredentialID); err != nil {
			return err
		}
	}
	return nil
}

// checkAddress accepts an IPv4 or IPv6 address or an RFC 1123 host name, and
// nothing else: no port, no scheme, no path, no spaces. It returns the
// address in canonical form (IP addresses as net/netip prints them).
func checkAddress(a string) (string, error) {
	const field = "address"
	switch {
	case a == "":
		return "", core.Invalid(field, "must not be empty")
	case len(a) > MaxAddressLen:
		return "", core.Invalid(field, "must be at most %d characters", MaxAddressLen)
	case strings.Contains(a, "://"):
		return "", core.Invalid(field, "%q is a URL; give only the host name or IP address", a)
	}
	if ip, err := netip.ParseAddr(strings.Trim(a, "[]")); err == nil {
		if ip.Zone() != "" {
			return "", core.Invalid(field, "%q: IPv6 zones are not supported", a)
		}
		return ip.String(), nil
	}
	if host, port, ok := strings.Cut(a, ":"); ok && !strings.Contains(port, ":") && host != "" {
		return "", core.Invalid(field, "%q contains a port; put the port in the port field", a)
	}
	name := strings.TrimSuffix(a, ".")
	allDigits := true
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return "", core.Invalid(field, "%q is neither an IP address nor a valid host name", a)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
			if c < '0' || c > '9' {
				allDigits = false
			}
			if !alnum && (c != '-' || i == 0 || i == len(label)-1) {
				return "", core.Invalid(field, "%q is neither an IP address nor a valid host name", a)
			}
		}
	}
	if allDigits {
		// "10.0.0.300" or "12345": looks numeric but is no IP address.
		return "", core.Invalid(field, "%q is not a valid IP address", a)
	}
	return a, nil
}
