package wsmantest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The WS-Management and Windows Remote Shell names this server speaks
// ([MS-WSMV]; the same URIs Windows, pywinrm and masterzen/winrm use).
const (
	nsSOAP     = "http://www.w3.org/2003/05/soap-envelope"
	nsAddr     = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsWSMan    = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsShell    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	nsTransfer = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	nsFault    = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

	resourceCmd = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
	anonymous   = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

	actionCreate  = nsTransfer + "/Create"
	actionDelete  = nsTransfer + "/Delete"
	actionCommand = nsShell + "/Command"
	actionReceive = nsShell + "/Receive"
	actionSend    = nsShell + "/Send"
	actionSignal  = nsShell + "/Signal"

	stateDone    = nsShell + "/CommandState/Done"
	stateRunning = nsShell + "/CommandState/Running"

	// SignalTerminate is the Signal code that stops a command.
	SignalTerminate = nsShell + "/signal/terminate"
	// SignalCtrlC is the Signal code for Ctrl+C.
	SignalCtrlC = nsShell + "/signal/ctrl_c"

	// faultOperationTimeout is the WSManFault code Windows answers a
	// Receive with when no output came within its OperationTimeout; clients
	// then simply receive again.
	faultOperationTimeout = "2150858793"
	// faultShellNotFound is the code for an unknown ShellId or CommandId.
	faultShellNotFound = "2150858843"
)

// envelope is a request, with only the parts this server reads. Elements
// are matched by local name and namespace.
type envelope struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  struct {
		Action           string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
		MessageID        string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
		ResourceURI      string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
		OperationTimeout string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
		Selectors        []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:",chardata"`
		} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet>Selector"`
		Options []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:",chardata"`
		} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptionSet>Option"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body struct {
		Shell *struct {
			InputStreams  string `xml:"InputStreams"`
			OutputStreams string `xml:"OutputStreams"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
		CommandLine *struct {
			Command   string   `xml:"Command"`
			Arguments []string `xml:"Arguments"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
		Receive *struct {
			DesiredStream struct {
				CommandID string `xml:"CommandId,attr"`
				Streams   string `xml:",chardata"`
			} `xml:"DesiredStream"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
		Send *struct {
			Streams []struct {
				Name      string `xml:"Name,attr"`
				CommandID string `xml:"CommandId,attr"`
				End       string `xml:"End,attr"`
				Data      string `xml:",chardata"`
			} `xml:"Stream"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Send"`
		Signal *struct {
			CommandID string `xml:"CommandId,attr"`
			Code      string `xml:"Code"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

func (e *envelope) selector(name string) string {
	for _, s := range e.Header.Selectors {
		if s.Name == name {
			return strings.TrimSpace(s.Value)
		}
	}
	return ""
}

func (e *envelope) option(name string) string {
	for _, o := range e.Header.Options {
		if o.Name == name {
			return strings.TrimSpace(o.Value)
		}
	}
	return ""
}

// isoDuration matches the xs:duration values clients send as
// OperationTimeout: PT60S, PT20.000S, PT1M30S.
var isoDuration = regexp.MustCompile(`^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$`)

// operationTimeout parses an OperationTimeout header; 0 when absent or not
// understood.
func operationTimeout(s string) time.Duration {
	m := isoDuration.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0
	}
	var d time.Duration
	if m[1] != "" {
		h, _ := strconv.Atoi(m[1])
		d += time.Duration(h) * time.Hour
	}
	if m[2] != "" {
		mi, _ := strconv.Atoi(m[2])
		d += time.Duration(mi) * time.Minute
	}
	if m[3] != "" {
		sec, _ := strconv.ParseFloat(m[3], 64)
		d += time.Duration(sec * float64(time.Second))
	}
	return d
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// response builds a SOAP envelope answering req with action and body (XML
// in the namespaces declared on the envelope: s, a, w, rsp, x, f).
func response(req *envelope, action, body string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&b, `<s:Envelope xml:lang="en-US" xmlns:s="%s" xmlns:a="%s" xmlns:w="%s" xmlns:rsp="%s" xmlns:x="%s" xmlns:f="%s">`,
		nsSOAP, nsAddr, nsWSMan, nsShell, nsTransfer, nsFault)
	b.WriteString(`<s:Header>`)
	fmt.Fprintf(&b, `<a:Action>%s</a:Action>`, xmlText(action))
	fmt.Fprintf(&b, `<a:MessageID>uuid:%s</a:MessageID>`, newUUID())
	fmt.Fprintf(&b, `<a:To>%s</a:To>`, anonymous)
	if req != nil && req.Header.MessageID != "" {
		fmt.Fprintf(&b, `<a:RelatesTo>%s</a:RelatesTo>`, xmlText(req.Header.MessageID))
	}
	b.WriteString(`</s:Header><s:Body>`)
	b.WriteString(body)
	b.WriteString(`</s:Body></s:Envelope>`)
	return b.Bytes()
}

// fault builds a SOAP fault as Windows does: a Receiver or Sender code, a
// reason, and a WSManFault with a numeric code in the detail.
func fault(req *envelope, sender bool, subcode, code, message string) []byte {
	who := "s:Receiver"
	if sender {
		who = "s:Sender"
	}
	body := fmt.Sprintf(`<s:Fault><s:Code><s:Value>%s</s:Value><s:Subcode><s:Value>%s</s:Value></s:Subcode></s:Code>`+
		`<s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason>`+
		`<s:Detail><f:WSManFault Code="%s" Machine="wsmantest"><f:Message>%s</f:Message></f:WSManFault></s:Detail></s:Fault>`,
		who, xmlText(subcode), xmlText(message), code, xmlText(message))
	return response(req, nsAddr+"/fault", body)
}

// outputChunk is output of one stream, as a Receive returns it.
type outputChunk struct {
	stream string
	data   []byte
}

func receiveBody(commandID string, chunks []outputChunk, done bool, exitCode int) string {
	var b strings.Builder
	b.WriteString(`<rsp:ReceiveResponse>`)
	for _, c := range chunks {
		fmt.Fprintf(&b, `<rsp:Stream Name="%s" CommandId="%s">%s</rsp:Stream>`, c.stream, commandID, base64.StdEncoding.EncodeToString(c.data))
	}
	if done {
		// Windows ends each stream explicitly when the command is done.
		fmt.Fprintf(&b, `<rsp:Stream Name="stdout" CommandId="%s" End="true"></rsp:Stream>`, commandID)
		fmt.Fprintf(&b, `<rsp:Stream Name="stderr" CommandId="%s" End="true"></rsp:Stream>`, commandID)
		fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>`, commandID, stateDone, exitCode)
	} else {
		fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s"></rsp:CommandState>`, commandID, stateRunning)
	}
	b.WriteString(`</rsp:ReceiveResponse>`)
	return b.String()
}
