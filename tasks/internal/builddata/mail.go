package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// parseMail returns a mail's decoded subject and its readable body text:
// the first text/plain part, else the first text/html part with tags
// removed. Broken mails (spam often is) degrade to what can be read rather
// than being dropped, since dropping them would skew the label balance.
func parseMail(raw []byte) (subject, body string) {
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	if bytes.HasPrefix(raw, []byte("From ")) { // mbox separator line
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	var hdr textproto.MIMEHeader
	var rest []byte
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		hdr = textproto.MIMEHeader(msg.Header)
		rest, _ = io.ReadAll(msg.Body)
	} else {
		hdr, rest = looseHeader(raw)
	}
	dec := mime.WordDecoder{CharsetReader: charsetReader}
	subject = hdr.Get("Subject")
	if s, err := dec.DecodeHeader(subject); err == nil {
		subject = s
	}
	subject = cleanText(latin1([]byte(subject)))
	text, isHTML, _ := partText(hdr, rest, 0)
	if isHTML {
		text = htmlText(text)
	}
	return subject, text
}

// looseHeader reads "Key: value" lines up to the first blank line, for
// mails whose header net/mail rejects.
func looseHeader(raw []byte) (textproto.MIMEHeader, []byte) {
	h := textproto.MIMEHeader{}
	head, rest, _ := bytes.Cut(raw, []byte("\n\n"))
	var key string
	sc := bufio.NewScanner(bytes.NewReader(head))
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	for sc.Scan() {
		l := sc.Text()
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && key != "" {
			vs := h[key]
			vs[len(vs)-1] += " " + strings.TrimSpace(l)
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		key = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k))
		h[key] = append(h[key], strings.TrimSpace(v))
	}
	return h, rest
}

// partText finds the best text part below a header: plain text wins over
// HTML; the first of each kind wins.
func partText(h textproto.MIMEHeader, body []byte, depth int) (text string, isHTML, ok bool) {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mt = "text/plain"
		if strings.Contains(strings.ToLower(h.Get("Content-Type")), "html") {
			mt = "text/html"
		}
	}
	if strings.HasPrefix(mt, "multipart/") && depth < 5 && params["boundary"] != "" {
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		var htmlPart string
		haveHTML := false
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			t, isH, ok := partText(p.Header, b, depth+1)
			if !ok {
				continue
			}
			if !isH {
				return t, false, true
			}
			if !haveHTML {
				htmlPart, haveHTML = t, true
			}
		}
		return htmlPart, true, haveHTML
	}
	if mt != "" && !strings.HasPrefix(mt, "text/") {
		return "", false, false
	}
	b := decodeTransfer(h.Get("Content-Transfer-Encoding"), body)
	text = decodeCharset(params["charset"], b)
	return text, mt == "text/html" || looksHTML(text), true
}

func looksHTML(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "<html") || strings.Contains(l, "<body") || strings.Contains(l, "<br") || strings.Contains(l, "<p>")
}

func decodeTransfer(enc string, b []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, b)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, _ := base64.StdEncoding.Decode(out, clean)
		return out[:n]
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		if err != nil && len(out) == 0 {
			return b
		}
		return out
	}
	return b
}

// decodeCharset reads UTF-8 as is and everything else as Latin-1, which
// covers the ISO-8859-1 and Windows-1252 mails of 2002; other scripts come
// out as mojibake, are rare here, and carry the spam signal anyway.
func decodeCharset(_ string, b []byte) string { return latin1(b) }

func charsetReader(_ string, r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return strings.NewReader(latin1(b)), nil
}

// htmlText turns an HTML body into lines of text.
func htmlText(s string) string {
	s = scriptRE.ReplaceAllString(s, " ")
	s = breakRE.ReplaceAllString(s, "\n")
	s = tagRE.ReplaceAllString(s, " ")
	return html.UnescapeString(s)
}
