package augment

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peftbench/peftbench/tasks"
)

// chatRequest is what the fake server reads of a chat-completions request.
type chatRequest struct {
	Path          string
	Authorization []string // the header's values; none when no key is sent
	Model         string
	Messages      []struct{ Role, Content string }
	Temperature   *float64
	Seed          *int64
	ctx           context.Context // done when the client gives up
}

// user is the request's user message.
func (r chatRequest) user() string {
	for _, m := range r.Messages {
		if m.Role == "user" {
			return m.Content
		}
	}
	return ""
}

// fakeChatServer answers as an OpenAI-compatible server does, with what
// answer says for each request (n counts requests from 0, retries
// included), and records the requests.
type fakeChatServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []chatRequest
}

func newFakeChatServer(t *testing.T, answer func(n int, r chatRequest, w http.ResponseWriter)) *fakeChatServer {
	t.Helper()
	s := &fakeChatServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		var r chatRequest
		if err := json.NewDecoder(hr.Body).Decode(&r); err != nil {
			http.Error(w, `{"error": {"message": "bad json"}}`, http.StatusBadRequest)
			return
		}
		r.Path = hr.Method + " " + hr.URL.Path
		r.ctx = hr.Context()
		r.Authorization = hr.Header.Values("Authorization")
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
		answer(n, r, w)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *fakeChatServer) requests() []chatRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]chatRequest(nil), s.reqs...)
}

// chatReply writes a chat.completion object whose message says content.
func chatReply(w http.ResponseWriter, content string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "teacher",
		"choices": []any{map[string]any{
			"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": content},
		}},
		"usage": map[string]any{"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
	})
}

// chatError writes an OpenAI-style error with the given status.
func chatError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error": {"message": "%s", "type": "server_error"}}`, http.StatusText(status))
}

func openaiTask(t *testing.T, name string) (*tasks.Task, []tasks.Example) {
	t.Helper()
	task, err := tasks.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	train, err := task.Split("train")
	if err != nil {
		t.Fatal(err)
	}
	return task, train
}

// firstOfEachLabel returns the first training example of each label.
func firstOfEachLabel(train []tasks.Example, labels int) []tasks.Example {
	var out []tasks.Example
	for l := range labels {
		for _, e := range train {
			if e.Label == l {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

func newOpenAITeacher(t *testing.T, task *tasks.Task, cfg OpenAIConfig) *OpenAI {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = "teacher-7b"
	}
	o, err := NewOpenAI(task, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOpenAIClassification(t *testing.T) {
	task, train := openaiTask(t, "sentiment")
	failed := firstOfEachLabel(train, len(task.Classes))
	srv := newFakeChatServer(t, func(n int, r chatRequest, w http.ResponseWriter) {
		// Labels as a model might write them: padded, capitalised.
		chatReply(w, fmt.Sprintf(`{"examples": [{"text": "new review %d.a", "label": " Great "}, {"text": "new review %d.b", "label": "other"}]}`, n, n))
	})
	o := newOpenAITeacher(t, task, OpenAIConfig{URL: srv.URL + "/v1", Seed: 7})
	got, cost, err := o.Write(failed, 2)
	if err != nil {
		t.Fatal(err)
	}
	if cost.Asked != 4 || cost.Written != 4 || cost.Malformed != 0 || cost.OffLabel != 0 || cost.Failed != 0 || cost.Seconds <= 0 {
		t.Errorf("cost = %+v", cost)
	}
	if len(got) != 4 {
		t.Fatalf("got %d examples, want 4", len(got))
	}
	for i, e := range got {
		text := fmt.Sprintf("new review %d.%c", i/2, 'a'+i%2)
		id := fmt.Sprintf("openai:%s:%d", failed[i/2].ID, i)
		want, err := task.Make(map[string]string{"text": text}, i%2, "", id)
		if err != nil {
			t.Fatal(err)
		}
		if e != want {
			t.Errorf("example %d = %+v, want %+v", i, e, want)
		}
		if e.Prompt != "Review: "+text+"\nRating:" || e.Target != task.Labels[i%2] {
			t.Errorf("example %d not made from the template: %+v", i, e)
		}
	}

	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		if r.Path != "POST /v1/chat/completions" || r.Model != "teacher-7b" || len(r.Messages) != 2 || r.Messages[0].Role != "system" {
			t.Errorf("request %d: %s model %q, %d messages", i, r.Path, r.Model, len(r.Messages))
		}
		if r.Temperature == nil || *r.Temperature != openaiTemperature {
			t.Errorf("request %d: openaiTemperature %v", i, r.Temperature)
		}
		if r.Seed == nil || *r.Seed != int64(7+i) {
			t.Errorf("request %d: seed %v, want %d", i, r.Seed, 7+i)
		}
		u := r.user()
		gold := task.Classes[failed[i].Label]
		for _, want := range []string{jsonQuote(failed[i].Text), `"label": "` + gold + `"`, `"great", "other"`, task.Description, "exactly 2 new examples"} {
			if !strings.Contains(u, want) {
				t.Errorf("request %d: user message lacks %q:\n%s", i, want, u)
			}
		}
	}
	t.Logf("user message:\n%s", reqs[0].user())

	// A second Write keeps ids unique and moves the seed on.
	got2, _, _ := o.Write(failed[:1], 1)
	if len(got2) != 1 || got2[0].ID != fmt.Sprintf("openai:%s:4", failed[0].ID) {
		t.Errorf("second write: %+v", got2)
	}
	if r := srv.requests()[2]; r.Seed == nil || *r.Seed != 9 {
		t.Errorf("third request's seed %v, want 9", r.Seed)
	}
}

// A template with more than the text (spam's subject) asks for each field.
func TestOpenAIExtraFields(t *testing.T) {
	task, train := openaiTask(t, "spam")
	failed := firstOfEachLabel(train, 2)[1:]
	srv := newFakeChatServer(t, func(n int, r chatRequest, w http.ResponseWriter) {
		chatReply(w, `{"examples": [{"subject": "Cheap meds", "text": "Buy now", "label": "spam"}, {"text": "no subject", "label": "spam"}]}`)
	})
	o := newOpenAITeacher(t, task, OpenAIConfig{URL: srv.URL + "/v1"})
	got, cost, _ := o.Write(failed, 2)
	if cost.Written != 1 || cost.Malformed != 1 || len(got) != 1 {
		t.Fatalf("cost %+v, %d examples", cost, len(got))
	}
	if got[0].Prompt != "Subject: Cheap meds\nBody: Buy now\nLabel:" || got[0].Target != " spam" {
		t.Errorf("example %+v", got[0])
	}
	u := srv.requests()[0].user()
	for _, want := range []string{`"subject": "..."`, failed[0].Prompt, `"label": "spam"`} {
		if !strings.Contains(u, want) {
			t.Errorf("user message lacks %q:\n%s", want, u)
		}
	}
}

func TestOpenAIGeneration(t *testing.T) {
	task, train := openaiTask(t, "arith")
	failed := train[:1]
	srv := newFakeChatServer(t, func(n int, r chatRequest, w http.ResponseWriter) {
		// The fourth item is past k and ignored.
		chatReply(w, `{"examples": [{"text": "Ann has 5 pens and buys 7. How many pens?", "answer": "12"},
			{"text": "Bo has 1,000 coins and 200 more. How many coins?", "answer": 1200},
			{"text": "Cy has some apples.", "answer": "a few"},
			{"text": "Extra.", "answer": "3"}]}`)
	})
	o := newOpenAITeacher(t, task, OpenAIConfig{URL: srv.URL + "/v1"})
	got, cost, err := o.Write(failed, 3)
	if err != nil {
		t.Fatal(err)
	}
	if cost.Asked != 3 || cost.Written != 2 || cost.OffLabel != 1 || cost.Malformed != 0 {
		t.Errorf("cost = %+v", cost)
	}
	if len(got) != 2 {
		t.Fatalf("got %d examples, want 2", len(got))
	}
	for i, want := range []struct{ q, a string }{{"Ann has 5 pens and buys 7. How many pens?", "12"}, {"Bo has 1,000 coins and 200 more. How many coins?", "1200"}} {
		e := got[i]
		if e.Prompt != "Question: "+want.q+"\nAnswer:" || e.Answer != want.a || e.Target != " "+want.a+"\n" || e.Label != -1 || e.Text != want.q {
			t.Errorf("example %d = %+v", i, e)
		}
	}
	u := srv.requests()[0].user()
	for _, want := range []string{jsonQuote(failed[0].Text), `"answer": "` + failed[0].Answer + `"`, `"answer": "<number>"`} {
		if !strings.Contains(u, want) {
			t.Errorf("user message lacks %q:\n%s", want, u)
		}
	}
}

// Replies as models write them: fenced, explained, thought through.
func TestOpenAIFencedReply(t *testing.T) {
	task, train := openaiTask(t, "sentiment")
	srv := newFakeChatServer(t, func(n int, r chatRequest, w http.ResponseWriter) {
		chatReply(w, "<think>They want {JSON}.</think>Sure! Here are the examples:\n```json\n"+
			`{"examples": [{"text": "Stale {and} bland", "label": "other"}, {"text": "Lovely tea", "label": "great"}]}`+
			"\n```\nHope this helps {:}")
	})
	o := newOpenAITeacher(t, task, OpenAIConfig{URL: srv.URL + "/v1"})
	got, cost, _ := o.Write(train[:1], 2)
	if cost.Written != 2 || cost.Malformed != 0 || len(got) != 2 || got[0].Text != "Stale {and} bland" || got[1].Label != 0 {
		t.Errorf("cost %+v, examples %+v", cost, got)
	}
}

func TestOpenAIMalformed(t *testing.T) {
	task, train := openaiTask(t, "sentiment")
	replies := []string{
		"I cannot help with that.",
		`{"examples": [{"text": "cut off", "label": "gre`, // out of tokens
		`{"examples": "none"}`,
		`{"result": "ok"}`,
		"",
	}
	srv := newFakeChatServer(t, func(n int, r chatRequest, w http.ResponseWriter) {
		switch {
		case n < len(replies):
			chatReply(w, replies[n])
		case n == len(replies): // no choices at all
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []}`)
		default: // one bad item among good ones, and a bare list
			chatReply(w, `[{"text": "fine", "label": "great"}, "just a string", {"text": "also fine", "label": "other"}]`)
		}
	})
	o := newOpenAITeacher(t, task, OpenAIConfig{URL: srv.URL + "/v1"})
	got, cost, err := o.Write(train[:len(replies)+2], 3)
	if err != nil {
		t.Fatal(err)
	}
	want := 3 * (len(replies) + 1)
	if cost.Asked != 3*(len(replies)+2) || cost.Malformed != want+1 || cost.Written != 2 || cost.Failed != 0 || cost.OffLabel != 0 {
		t.Errorf("cost = %+v, want %d malformed", cost, want+1)
	}
	if len(got) != 2 || got[0].Text != "fine" || got[1].Text != "also fine" {
		t.Errorf("examples %+v", got)
	}
}

func TestOpenAIOffLabel(t *testing.T) {
	task, train := openaiTask(t, "sentiment")
	srv := newFakeChatServer(t, func(n int, r chatRequest, w http.ResponseWriter) {
		chatReply(w, `{"examples": [{"text": "keep me", "label": "great"}, {"text": "b", "label": "terrible"},
			{"text": "  ", "label": "other"}, {"text": "no label"}, {"text": "also kept", "label": "OTHER"}, {"text": "number", "label": 1}]}`)
	})
	o := newOpenAITeacher(t, task, OpenAIConfig{URL: srv.URL + "/v1"})
	got, cost, _ := o.Write(train[:1], 6)
	if cost.Written != 2 || cost.OffLabel != 4 || cost.Malformed != 0 {
		t.Errorf("cost = %+v", cost)
	}
	if len(got) != 2 || got[0].Text != "keep me" || got[0].Label != 0 || got[1].Text != "also kept" || got[1].Label != 1 {
		t.Errorf("examples %+v", got)
	}
}

// Requests that fail are retried, then counted, and the next failed
// example is still asked about.
func TestOpenAIHTTPErrors(t *testing.T) {
	task, train := openaiTask(t, "sentiment")
	failed := []tasks.Example{train[0], train[1]}
	failed[0].Text = "FAIL ME"
	for _, c := range []struct {
		status, retries, attempts int
		header                    string
	}{
		{http.StatusInternalServerError, 1, 2, ""},           // client backoff (~0.5s)
		{http.StatusTooManyRequests, 2, 3, "Retry-After-Ms"}, // the server says when
		{http.StatusServiceUnavailable, -1, 1, ""},           // no retries
		{http.StatusBadRequest, 2, 1, ""},                    // not worth retrying
		{http.StatusUnauthorized, 0, 1, ""},                  // a wrong key
	} {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			srv := newFakeChatServer(t, func(n int, r chatRequest, w http.ResponseWriter) {
				if strings.Contains(r.user(), "FAIL ME") {
					if c.header == "Retry-After-Ms" {
						w.Header().Set("Retry-After-Ms", "5")
					}
					chatError(w, c.status)
					return
				}
				chatReply(w, `{"examples": [{"text": "fine", "label": "great"}]}`)
			})
			o := newOpenAITeacher(t, task, OpenAIConfig{URL: srv.URL + "/v1", Retries: c.retries})
			got, cost, err := o.Write(failed, 1)
			if err != nil {
				t.Fatal(err)
			}
			if cost.Failed != 1 || cost.Asked != 2 || cost.Written != 1 || len(got) != 1 {
				t.Errorf("cost = %+v, %d examples", cost, len(got))
			}
			if n := len(srv.requests()); n != c.attempts+1 {
				t.Errorf("server saw %d requests, want %d attempts + 1", n, c.attempts)
			}
			if err := o.LastError(); err == nil || !strings.Contains(err.Error(), fmt.Sprint(c.status)) {
				t.Errorf("LastError = %v", err)
			}
		})
	}
}

// A server that hangs costs one timeout, not the whole run; so does one
// that is not there.
func TestOpenAITimeout(t *testing.T) {
	task, train := openaiTask(t, "sentiment")
	srv := newFakeChatServer(t, func(n int, r chatRequest, w http.ResponseWriter) {
		// Waits for the client to give up, so that Close need not wait.
		select {
		case <-r.ctx.Done():
		case <-time.After(5 * time.Second):
		}
	})
	start := time.Now()
	o := newOpenAITeacher(t, task, OpenAIConfig{URL: srv.URL + "/v1", Timeout: 200 * time.Millisecond, Retries: 1})
	_, cost, err := o.Write(train[:1], 2)
	if err != nil || cost.Failed != 1 || cost.Asked != 2 || cost.Written != 0 {
		t.Errorf("cost = %+v, err %v", cost, err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("took %v", d)
	}
	// A timed-out attempt is not retried.
	if n := len(srv.requests()); n < 1 || n > 2 {
		t.Errorf("server saw %d requests", n)
	} else {
		t.Logf("attempts for a timed-out request: %d", n)
	}

	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	o = newOpenAITeacher(t, task, OpenAIConfig{URL: gone.URL + "/v1", Retries: -1})
	_, cost, err = o.Write(train[:2], 1)
	if err != nil || cost.Failed != 2 || o.LastError() == nil {
		t.Errorf("connection refused: cost = %+v, err %v, last %v", cost, err, o.LastError())
	}
}

func TestOpenAIKey(t *testing.T) {
	task, train := openaiTask(t, "sentiment")
	srv := newFakeChatServer(t, func(n int, r chatRequest, w http.ResponseWriter) {
		chatReply(w, `{"examples": []}`)
	})
	// An OPENAI_API_KEY in the environment must not reach the server: the
	// teacher sends only the key it was told of.
	t.Setenv("OPENAI_API_KEY", "sk-not-for-this-server")
	t.Setenv("PEFTBENCH_TEST_TEACHER_KEY", "sk-test-123")
	for _, c := range []struct {
		env  string
		want []string
	}{
		{"PEFTBENCH_TEST_TEACHER_KEY", []string{"Bearer sk-test-123"}},
		{"", nil},
		{"PEFTBENCH_TEST_UNSET_KEY", nil},
	} {
		before := len(srv.requests())
		o := newOpenAITeacher(t, task, OpenAIConfig{URL: srv.URL + "/v1", KeyEnv: c.env})
		if _, cost, _ := o.Write(train[:1], 1); cost.Failed != 0 || cost.Malformed != 0 {
			t.Errorf("KeyEnv %q: cost %+v", c.env, cost)
		}
		reqs := srv.requests()[before:]
		if len(reqs) != 1 || strings.Join(reqs[0].Authorization, ",") != strings.Join(c.want, ",") {
			t.Errorf("KeyEnv %q: Authorization %q, want %q", c.env, reqs[0].Authorization, c.want)
		}
	}
}

func TestNewOpenAIErrors(t *testing.T) {
	task, _ := openaiTask(t, "sentiment")
	for _, c := range []struct {
		cfg  OpenAIConfig
		want string
	}{
		{OpenAIConfig{Model: "m"}, "no server URL"},
		{OpenAIConfig{URL: "localhost:8000/v1", Model: "m"}, "not an http(s) URL"},
		{OpenAIConfig{URL: "http://localhost:8000/v1"}, "no model"},
		{OpenAIConfig{URL: "http://localhost:8000/v1", Model: "m", Timeout: -time.Second}, "negative timeout"},
	} {
		if _, err := NewOpenAI(task, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewOpenAI(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
	if _, err := NewOpenAI(nil, OpenAIConfig{URL: "http://localhost:8000/v1", Model: "m"}); err == nil {
		t.Error("no task accepted")
	}
}

func TestOpenAIParseExamples(t *testing.T) {
	for _, c := range []struct {
		in string
		n  int // items; -1: malformed
	}{
		{`{"examples": [{"text": "a"}, {"text": "b"}]}`, 2},
		{"```json\n{\"examples\": [{\"text\": \"a\"}]}\n```", 1},
		{"Here: {\"examples\": [{\"text\": \"}\"}]} and {more}", 1},
		{`{"note": "x"} {"examples": [{"text": "a"}]}`, 1},
		{`{"examples": []}`, 0},
		{`[{"text": "a"}]`, 1},
		{`{"examples": null}`, -1},
		{`{"examples": [`, -1},
		{"no json", -1},
		{"", -1},
	} {
		items, ok := parseExamples(c.in)
		if n := len(items); (c.n < 0 && ok) || (c.n >= 0 && (!ok || n != c.n)) {
			t.Errorf("parseExamples(%q) = %d items, %v; want %d", c.in, n, ok, c.n)
		}
	}
}
