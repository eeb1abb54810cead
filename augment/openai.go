package augment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// OpenAIConfig configures the openai teacher.
type OpenAIConfig struct {
	// URL is the server's base URL, up to and including the API version
	// ("http://host:8000/v1" for vLLM, "http://host:11434/v1" for Ollama).
	URL string
	// Model names the model the server should answer with.
	Model string
	// KeyEnv names the environment variable holding the API key; empty,
	// or naming an unset variable, sends no key (local servers need none).
	KeyEnv string
	// Timeout bounds each HTTP attempt; 0 means 60s.
	Timeout time.Duration
	// Retries is how often a request that failed with 408, 409, 429, 5xx
	// or a connection error is tried again; 0 means 2, negative means
	// none. A timed-out attempt is not retried: a server that hangs would only hang again.
	Retries int
	// Seed makes the server's sampling repeatable, where it supports it.
	Seed uint64
}

// Defaults for OpenAIConfig's zero values.
const (
	DefaultOpenAITimeout = 60 * time.Second
	DefaultOpenAIRetries = 2
)

// openaiTemperature trades variety (new examples, not copies of the failed
// one) against staying on task.
const openaiTemperature = 0.7

// OpenAI is the teacher of LLM2LLM proper: a large model behind an
// OpenAI-compatible chat-completions API (vLLM, llama.cpp server, Ollama,
// OpenAI) writes new examples like each one the student got wrong, one
// request per failed example.
//
// Accounting per failed example, of the k asked for: a request that fails
// after its retries counts once in Failed; a reply that holds no JSON
// object with an "examples" list counts k in Malformed; of the first k
// items (later ones are ignored), one that is not a JSON object or lacks
// one of the template's other fields (spam's "subject") counts in
// Malformed, one with an empty text, a label that is not a class of the
// task or (generation) an answer that is not a number counts in OffLabel,
// and the rest are Written. Fewer than k items leave the shortfall
// uncounted. Requests go one at a time; Write is not safe for concurrent
// use.
type OpenAI struct {
	task    *tasks.Task
	model   string
	seed    uint64
	url     string // …/chat/completions
	key     string // read from the environment once; sent, never logged
	timeout time.Duration
	retries int
	client  *http.Client
	classes map[string]int // lower-cased class name → label index
	extra   []string       // template fields besides the text, in order

	requests uint64 // requests sent so far: varies the seed per request
	made     int    // examples written so far: keeps ids unique across Writes
	lastErr  error
}

// NewOpenAI returns the openai teacher for task. It checks the settings
// and that the task can take new examples; it does not contact the
// server, whose trouble Write counts instead.
func NewOpenAI(task *tasks.Task, cfg OpenAIConfig) (*OpenAI, error) {
	if task == nil {
		return nil, errors.New("augment: openai teacher: no task")
	}
	if strings.TrimSpace(cfg.URL) == "" {
		return nil, errors.New("augment: openai teacher: no server URL (e.g. http://localhost:8000/v1)")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("augment: openai teacher: URL %q is not an http(s) URL like http://localhost:8000/v1", cfg.URL)
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errors.New("augment: openai teacher: no model name (the server's name for the model to ask)")
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("augment: openai teacher: negative timeout %v", cfg.Timeout)
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultOpenAITimeout
	}
	switch {
	case cfg.Retries < 0:
		cfg.Retries = 0
	case cfg.Retries == 0:
		cfg.Retries = DefaultOpenAIRetries
	}
	if task.Kind != tasks.KindClassification && task.Kind != tasks.KindGeneration {
		return nil, fmt.Errorf("augment: openai teacher: task %s: unknown kind %q", task.Name, task.Kind)
	}
	// Items name the text field "text" and any other placeholder (spam's
	// {subject}) by its own name, next to "label" or "answer".
	var extra []string
	for _, f := range task.Fields() {
		if f == task.TextField {
			continue
		}
		if f == "text" || f == "label" || f == "answer" {
			return nil, fmt.Errorf("augment: openai teacher: task %s: template placeholder {%s} clashes with the reply's own %q", task.Name, f, f)
		}
		extra = append(extra, f)
	}
	probe := map[string]string{task.TextField: "probe"}
	for _, f := range extra {
		probe[f] = "probe"
	}
	if _, err := task.Make(probe, 0, "0", "openai:probe"); err != nil {
		return nil, fmt.Errorf("augment: openai teacher: %w", err)
	}
	classes := map[string]int{}
	for i, c := range task.Classes {
		classes[strings.ToLower(strings.TrimSpace(c))] = i
	}
	// The key comes only from the variable named: never from OPENAI_API_KEY
	// or other ambient settings a server was not meant to see.
	key := ""
	if cfg.KeyEnv != "" {
		key = os.Getenv(cfg.KeyEnv)
	}
	return &OpenAI{
		task:    task,
		model:   cfg.Model,
		seed:    cfg.Seed,
		url:     strings.TrimRight(cfg.URL, "/") + "/chat/completions",
		key:     key,
		timeout: cfg.Timeout,
		retries: cfg.Retries,
		client:  &http.Client{},
		classes: classes,
		extra:   extra,
	}, nil
}

// LastError is the last request error Write counted as failed (nil if
// none), for telling the user why: it names the HTTP status or the
// connection problem, never the key.
func (o *OpenAI) LastError() error { return o.lastErr }

// Write asks the server for k new examples like each failed one. Trouble
// with a request or an answer is counted in the cost, never returned.
func (o *OpenAI) Write(failed []tasks.Example, k int) ([]tasks.Example, trial.Cost, error) {
	start := time.Now()
	var cost trial.Cost
	var out []tasks.Example
	if k <= 0 {
		cost.Seconds = time.Since(start).Seconds()
		return nil, cost, nil
	}
	for _, f := range failed {
		cost.Asked += k
		content, err := o.ask(f, k)
		if err != nil {
			cost.Failed++
			o.lastErr = err
			continue
		}
		items, ok := parseExamples(content)
		if !ok {
			cost.Malformed += k
			continue
		}
		if len(items) > k {
			items = items[:k]
		}
		for _, raw := range items {
			fields, label, answer, itemVerdict := o.check(raw)
			if itemVerdict == itemGood {
				e, err := o.task.Make(fields, label, answer, fmt.Sprintf("openai:%s:%d", f.ID, o.made))
				if err != nil { // check has ruled this out; kept as a guard
					itemVerdict = itemMalformed
				} else {
					o.made++
					cost.Written++
					out = append(out, e)
					continue
				}
			}
			if itemVerdict == itemMalformed {
				cost.Malformed++
			} else {
				cost.OffLabel++
			}
		}
	}
	cost.Seconds = time.Since(start).Seconds()
	return out, cost, nil
}

type itemVerdict int

const (
	itemGood itemVerdict = iota
	itemMalformed
	itemOffLabel
)

// check reads one item of a reply: the task's fields, and its label index
// or normalised answer. An item that is not an object, or lacks one of the
// template's other fields, is malformed; an empty text, a label that is
// not a class (compared trimmed, ignoring case) or an answer that is not
// a number is off-label, for generation as for classification.
func (o *OpenAI) check(raw json.RawMessage) (fields map[string]string, label int, answer string, v itemVerdict) {
	var item map[string]json.RawMessage
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) || json.Unmarshal(raw, &item) != nil {
		return nil, 0, "", itemMalformed
	}
	// Keys compared ignoring case, as encoding/json would for a struct.
	lower := make(map[string]json.RawMessage, len(item))
	for k, v := range item {
		lower[strings.ToLower(k)] = v
	}
	text := strings.TrimSpace(jsonScalar(lower["text"]))
	if text == "" { // a model may use the field's own name ("question")
		text = strings.TrimSpace(jsonScalar(lower[strings.ToLower(o.task.TextField)]))
	}
	fields = map[string]string{o.task.TextField: text}
	for _, f := range o.extra {
		raw, ok := lower[strings.ToLower(f)]
		if !ok || !isJSONScalar(raw) {
			return nil, 0, "", itemMalformed
		}
		fields[f] = strings.TrimSpace(jsonScalar(raw))
	}
	if text == "" {
		return nil, 0, "", itemOffLabel
	}
	if o.task.Kind == tasks.KindClassification {
		i, ok := o.classes[strings.ToLower(strings.TrimSpace(jsonScalar(lower["label"])))]
		if !ok {
			return nil, 0, "", itemOffLabel
		}
		return fields, i, "", itemGood
	}
	answer = tasks.NormaliseAnswer(jsonScalar(lower["answer"]))
	if !numericAnswer.MatchString(answer) {
		return nil, 0, "", itemOffLabel
	}
	return fields, -1, answer, itemGood
}

// numericAnswer is a normalised numeric answer (tasks.NormaliseAnswer output).
var numericAnswer = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// ask sends one request and returns the reply's text; a reply without
// choices comes back empty, to be counted as malformed.
func (o *OpenAI) ask(f tasks.Example, k int) (string, error) {
	system, user := o.prompt(f, k)
	// Each request gets its own seed so that asking about the same failed
	// example in a later iteration does not return the same examples.
	seed := int64((o.seed + o.requests) & math.MaxInt64)
	o.requests++
	body, err := json.Marshal(chatRequestBody{
		Model:       o.model,
		Messages:    []chatMessage{{Role: "system", Content: system}, {Role: "user", Content: user}},
		Temperature: openaiTemperature,
		Seed:        seed,
	})
	if err != nil {
		return "", err
	}
	var reply struct {
		Choices []struct {
			Message chatMessage `json:"message"`
		} `json:"choices"`
	}
	if err := o.post(body, &reply); err != nil {
		return "", err
	}
	if len(reply.Choices) == 0 {
		return "", nil
	}
	return reply.Choices[0].Message.Content, nil
}

// chatRequestBody is the chat-completions request, as OpenAI's API and the
// servers that copy it (vLLM, llama.cpp, Ollama) take it.
type chatRequestBody struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	Temperature float64       `json:"temperature"`
	Seed        int64         `json:"seed"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// post sends body and decodes the reply into out, each attempt within the
// timeout. 408, 409, 429, 5xx and connection errors are retried up to
// o.retries times, after the server's Retry-After(-Ms) (at most 2 min) or
// 0.5 s, 1 s, 2 s, …; a timed-out attempt is not: a server that hangs
// would only hang again.
func (o *OpenAI) post(body []byte, out any) error {
	for attempt := 0; ; attempt++ {
		wait, err := o.attempt(body, out)
		if err == nil || wait < 0 || attempt >= o.retries {
			return err
		}
		if wait == 0 {
			wait = time.Duration(500<<attempt) * time.Millisecond
		}
		time.Sleep(wait)
	}
}

// attempt is one request. wait < 0 means the error is not worth a retry;
// wait > 0 is the server's own Retry-After.
func (o *OpenAI) attempt(body []byte, out any) (wait time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(body))
	if err != nil {
		return -1, err
	}
	req.Header.Set("Content-Type", "application/json")
	if o.key != "" {
		req.Header.Set("Authorization", "Bearer "+o.key)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return -1, fmt.Errorf("no answer within %v", o.timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) { // the URL, never the key: it is not in the URL
			err = ue.Err
		}
		return 0, fmt.Errorf("connection: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("HTTP %d %s: %s", resp.StatusCode, http.StatusText(resp.StatusCode), clip(string(b), 200))
		switch c := resp.StatusCode; {
		case c == 408 || c == 409 || c == 429 || c >= 500:
			return retryAfter(resp.Header), err
		default:
			return -1, err
		}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return -1, fmt.Errorf("the answer is not a chat completion: %w", err)
	}
	return 0, nil
}

// retryAfter reads how long the server asks to wait (0: not said), at most
// two minutes.
func retryAfter(h http.Header) time.Duration {
	if v, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && v >= 0 {
		return min(time.Duration(v*float64(time.Millisecond)), 2*time.Minute)
	}
	if v, err := strconv.ParseFloat(h.Get("Retry-After"), 64); err == nil && v >= 0 {
		return min(time.Duration(v*float64(time.Second)), 2*time.Minute)
	}
	return 0
}

// clip shortens s to n bytes for an error message.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

const openaiSystem = "You write training examples for a small language model that is being fine-tuned on a task. " +
	"You reply with one JSON object and nothing else."

// prompt builds the system and user messages for one failed example. The
// failed example is shown in the JSON shape the reply must take, so the
// teacher sees the format used once before writing it.
func (o *OpenAI) prompt(f tasks.Example, k int) (system, user string) {
	t := o.task
	var b strings.Builder
	fmt.Fprintf(&b, "Task: %s", t.Name)
	if t.Description != "" {
		fmt.Fprintf(&b, ": %s", t.Description)
	}
	b.WriteString(".\n")
	// The reply's fields: the template's others (whose values the failed
	// example does not keep: the prompt below shows them), then the text.
	var form []string
	for _, name := range o.extra {
		form = append(form, fmt.Sprintf(`%s: "..."`, jsonQuote(name)))
	}
	form = append(form, `"text": "..."`)
	var shown, how string
	if t.Kind == tasks.KindClassification {
		quoted := make([]string, len(t.Classes))
		for i, c := range t.Classes {
			quoted[i] = jsonQuote(c)
		}
		classes := strings.Join(quoted, ", ")
		gold := ""
		if f.Label >= 0 && f.Label < len(t.Classes) {
			gold = t.Classes[f.Label]
		}
		fmt.Fprintf(&b, "Each example is a text with exactly one label from: %s.\n", classes)
		shown = fmt.Sprintf(`{"text": %s, "label": %s}`, jsonQuote(f.Text), jsonQuote(gold))
		how = "like it in kind, topic and difficulty, each with its correct label"
		form = append(form, fmt.Sprintf(`"label": "<one of: %s>"`, strings.Join(t.Classes, ", ")))
	} else {
		b.WriteString("Each example is a text whose answer is a single number.\n")
		shown = fmt.Sprintf(`{"text": %s, "answer": %s}`, jsonQuote(f.Text), jsonQuote(f.Answer))
		how = "needing the same kind of reasoning, with different numbers and details, each with its correct answer"
		form = append(form, `"answer": "<number>"`)
	}
	fmt.Fprintf(&b, "\nThe student model got this example wrong:\n%s\n", shown)
	if len(o.extra) > 0 {
		fmt.Fprintf(&b, "The student saw it as:\n%s\n", f.Prompt)
	}
	fmt.Fprintf(&b, "\nWrite exactly %d new examples that would teach the student what it missed: %s, "+
		"but each clearly different from it and from each other (not paraphrases).", k, how)
	if t.MaxChars > 0 {
		fmt.Fprintf(&b, " Keep each text under %d characters.", t.MaxChars)
	}
	fmt.Fprintf(&b, "\n\nReply with JSON only, in exactly this form, with %d items:\n{\"examples\": [{%s}]}\n", k, strings.Join(form, ", "))
	return openaiSystem, b.String()
}

// jsonQuote quotes s as JSON, leaving <, > and & readable.
func jsonQuote(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// parseExamples finds the examples in a reply. Models wrap JSON in ```json
// fences, explain around it, or think aloud first, so it takes the first
// JSON object from which an "examples" list decodes, ignoring text before
// and after; failing that, the first JSON list (small models often drop
// the wrapper object or rename its key).
func parseExamples(s string) ([]json.RawMessage, bool) {
	// Reasoning models (DeepSeek-R1 style) may put their thinking, braces
	// and all, before the answer.
	if i := strings.LastIndex(s, "</think>"); i >= 0 {
		s = s[i+len("</think>"):]
	}
	for i := strings.IndexByte(s, '{'); i >= 0; {
		var reply struct {
			Examples []json.RawMessage `json:"examples"`
		}
		if json.NewDecoder(strings.NewReader(s[i:])).Decode(&reply) == nil && reply.Examples != nil {
			return reply.Examples, true
		}
		j := strings.IndexByte(s[i+1:], '{')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	if i := strings.IndexByte(s, '['); i >= 0 {
		var items []json.RawMessage
		if json.NewDecoder(strings.NewReader(s[i:])).Decode(&items) == nil && len(items) > 0 {
			return items, true
		}
	}
	return nil, false
}

// isJSONScalar is whether raw is a JSON string or number.
func isJSONScalar(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && (raw[0] == '"' || raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'))
}

// jsonScalar reads a JSON string or number as text ("42" and 42 alike);
// anything else, or nothing, reads as "".
func jsonScalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
