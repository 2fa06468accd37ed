// Copyright 2026 The warden_exporter Authors
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

package probe

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/hosttext"
)

// Phase is the part of a probe that was running when it failed.
type Phase string

// The phases of a probe, in order.
const (
	PhaseResolve  Phase = "resolve"
	PhaseConnect  Phase = "connect"
	PhaseStartTLS Phase = "starttls"
	PhaseTLS      Phase = "tls handshake"
	PhaseStep     Phase = "step" // a query_response step
)

// Failure is the stable diagnosis of a failed probe: every field comes
// from the config or from a closed set, never from the peer or the clock.
type Failure struct {
	Phase Phase // "" when the probe never started (or its target is invalid)
	// Step is the query_response step's index (as in Err's "step N"), with
	// PhaseStep.
	Step int
	// Want is what the phase waited for: the step's expect pattern ("" for
	// a send), or the SMTP reply code of a STARTTLS exchange.
	Want string
	// Kind sub-classes the reason: for tls "certificate expired",
	// "certificate not yet valid", "certificate invalid", "unknown
	// authority", "name mismatch", "not TLS", "peer alert: <alert>",
	// "connection closed", "tls_config unusable"; for dns "not found",
	// "timeout", "no address of the wanted family"; "not started" for a
	// probe the deadline left no time for.
	Kind string
}

// maxWantInDiagnosis bounds what a diagnosis quotes of an expect pattern
// (the config's, any length): the diagnosis is a label value.
const maxWantInDiagnosis = 64

// Diagnosis words a failed probe's class and where it stopped, without
// anything that changes between runs of the same failure: "refused", "reset",
// `timeout (step 1: expect "^\\+PONG")`, `expect (step 1: "^\\+PONG")`,
// "tls (certificate expired)", "timeout (tls handshake)". "" on success.
func (r Result) Diagnosis() string {
	if r.Success {
		return ""
	}
	if r.Reason == Reset {
		// Where a reset lands is a race, not a diagnosis: a peer that
		// resets every connection at accept was seen at the connect in 2
		// of 30 runs (the RST beat connect's check of the socket's
		// error) and at the first read in 28; with a send first, the
		// write can take it too.
		return string(Reset)
	}
	f := r.Failure
	var parts []string
	switch f.Phase {
	case PhaseStep:
		where := "step " + strconv.Itoa(f.Step) + ": "
		switch {
		case f.Want == "":
			where += "send"
		case r.Reason == Expect:
			where += strconv.Quote(hosttext.Clip(f.Want, maxWantInDiagnosis))
		default:
			where += "expect " + strconv.Quote(hosttext.Clip(f.Want, maxWantInDiagnosis))
		}
		parts = append(parts, where)
	case PhaseStartTLS:
		parts = append(parts, "starttls: want "+cmp.Or(f.Want, "the handshake"))
	case PhaseTLS:
		if r.Reason != TLS { // a TLS failure says it already
			parts = append(parts, string(f.Phase))
		}
	case PhaseConnect:
		if r.Reason != Refused { // only a connect is refused
			parts = append(parts, string(f.Phase))
		}
	}
	if f.Kind != "" {
		parts = append(parts, f.Kind)
	}
	if len(parts) == 0 {
		return string(r.Reason)
	}
	return string(r.Reason) + " (" + strings.Join(parts, ", ") + ")"
}

// tlsConfigError is a probe's tls_config that cannot be used (a CA file
// that cannot be read): the exporter's fault, not the peer's.
type tlsConfigError struct{ err error }

func (e *tlsConfigError) Error() string { return e.err.Error() }
func (e *tlsConfigError) Unwrap() error { return e.err }

// kindOf sub-classes a failure of reason from its error's types (never
// from its text): the part of Failure that only the error knows.
func kindOf(reason Reason, err error) string {
	switch reason {
	case TLS:
		return tlsKind(err)
	case DNS:
		var dnsErr *net.DNSError
		switch {
		case !errors.As(err, &dnsErr):
			return "no address of the wanted family"
		case dnsErr.IsNotFound:
			return "not found"
		case dnsErr.IsTimeout:
			return "timeout"
		}
	}
	return ""
}

// tlsKind names what went wrong in a TLS handshake.
func tlsKind(err error) string {
	var invalid x509.CertificateInvalidError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var configErr *tlsConfigError
	var opErr *net.OpError
	switch {
	case errors.As(err, &configErr):
		return "tls_config unusable"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		// Go says "expired or not yet valid", with the current time; the
		// certificate tells which.
		if invalid.Cert != nil && time.Now().Before(invalid.Cert.NotBefore) {
			return "certificate not yet valid"
		}
		return "certificate expired"
	case errors.As(err, &invalid):
		return "certificate invalid"
	case errors.As(err, &unknownAuth):
		return "unknown authority"
	case errors.As(err, &hostErr):
		return "name mismatch"
	case errors.As(err, &recordErr):
		return "not TLS"
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		// The alert's name comes from crypto/tls's table of alerts (an
		// unknown one is "alert(N)", N < 256): a closed set.
		return "peer alert: " + hosttext.Clip(strings.TrimPrefix(opErr.Err.Error(), "tls: "), 40)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return ""
}

// classify names why a probe failed.
func classify(err error) Reason {
	var pe *probeError
	reason := ""
	if errors.As(err, &pe) {
		reason = pe.reason
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	var recordErr tls.RecordHeaderError
	switch {
	case reason == "dns" || errors.As(err, &dnsErr):
		return DNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return Reset
	case reason == "expect":
		return Expect
	case isTimeout(err):
		return Timeout
	case reason == "tls" || errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) ||
		errors.As(err, &invalid) || errors.As(err, &alert) || errors.As(err, &recordErr):
		return TLS
	}
	return Other
}
