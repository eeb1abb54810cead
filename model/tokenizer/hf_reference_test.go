package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"
)

// The reference data comes from Hugging Face's tokenizers.js on real
// models' tokenizer.json files, which cannot be committed here (their
// licences), so it is built on demand: .ci/tokenizer-reference.sh DIR
// writes DIR/reference.json (see model/tokenizer/reference/setup.sh).
const (
	referenceEnv = "PEFTBENCH_TOKENIZER_REFERENCE"
	requireEnv   = "PEFTBENCH_REQUIRE_REFERENCES"
)

type hfReference struct {
	Reference string   `json:"reference"`
	Texts     []string `json:"texts"`
	Models    []struct {
		Name           string   `json:"name"`
		Source         string   `json:"source"`
		Dir            string   `json:"dir"` // relative to the JSON file's folder
		IDs            [][]int  `json:"ids"`
		IDsWithSpecial [][]int  `json:"ids_with_special"`
		Decoded        []string `json:"decoded"`
	} `json:"models"`
	dir string
}

var readReference = sync.OnceValues(func() (*hfReference, error) {
	name := os.Getenv(referenceEnv)
	if name == "" {
		return nil, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	ref := &hfReference{dir: filepath.Dir(name)}
	if err := json.Unmarshal(data, ref); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ref, nil
})

// hfRef returns the reference data, skipping the test when there is
// none unless PEFTBENCH_REQUIRE_REFERENCES=1 (as in CI) makes that a
// failure.
func hfRef(tb testing.TB) *hfReference {
	tb.Helper()
	ref, err := readReference()
	if err != nil {
		tb.Fatalf("%s: %v", referenceEnv, err)
	}
	if ref == nil {
		msg := fmt.Sprintf("%s is not set: run .ci/tokenizer-reference.sh DIR and set %s=DIR/reference.json to compare with Hugging Face's tokenizers.js on real models", referenceEnv, referenceEnv)
		if os.Getenv(requireEnv) == "1" {
			tb.Fatalf("%s=1 but %s", requireEnv, msg)
		}
		tb.Skip(msg)
	}
	return ref
}

func (ref *hfReference) load(tb testing.TB, i int) *Tokenizer {
	tb.Helper()
	m := ref.Models[i]
	start := time.Now()
	tok, err := LoadHF(filepath.Join(ref.dir, m.Dir))
	if err != nil {
		tb.Fatal(err)
	}
	bos := "none"
	if id, ok := tok.BOS(); ok {
		bos = fmt.Sprintf("%d %q", id, tok.TokenBytes(id))
	}
	var steps []string
	for _, st := range tok.hf.steps {
		steps = append(steps, strings.TrimPrefix(fmt.Sprintf("%T", st), "tokenizer."))
	}
	tb.Logf("%s (%s): %d tokens, EOT %d %q, BOS %s, pre-tokenizer %v, loaded in %v", m.Name, m.Source, tok.VocabSize(),
		tok.EOT(), tok.TokenBytes(tok.EOT()), bos, steps, time.Since(start).Round(time.Millisecond))
	return tok
}

// TestHFReference checks Encode, Prefix and Suffix, and Decode against the
// reference on every text and tokenizer, real models and the fixtures.
func TestHFReference(t *testing.T) {
	ref := hfRef(t)
	if len(ref.Models) == 0 || len(ref.Texts) == 0 {
		t.Fatalf("%s holds no models or texts", os.Getenv(referenceEnv))
	}
	t.Logf("%s: %d texts, %d tokenizers", ref.Reference, len(ref.Texts), len(ref.Models))
	for i, m := range ref.Models {
		t.Run(m.Name, func(t *testing.T) {
			tok := ref.load(t, i)
			if len(m.IDs) != len(ref.Texts) || len(m.IDsWithSpecial) != len(ref.Texts) || len(m.Decoded) != len(ref.Texts) {
				t.Fatalf("reference has %d/%d/%d results for %d texts", len(m.IDs), len(m.IDsWithSpecial), len(m.Decoded), len(ref.Texts))
			}
			// SentencePiece-style BPE puts a ▁ before every section
			// between added tokens, and decodes ▁ in the text as a space.
			lossless := !tok.hf.prefixSpace && !tok.hf.raw.strips() && !tok.hf.norm.strips() && tok.hf.sp == nil
			failures := 0
			fail := func(format string, args ...any) {
				t.Helper()
				if failures++; failures <= 5 {
					t.Errorf(format, args...)
				}
			}
			tokens := 0
			for k, text := range ref.Texts {
				want := m.IDs[k]
				tokens += len(want)
				got := tok.Encode(text)
				if !slices.Equal(got, want) {
					fail("text %d %.60q:\n%s", k, text, firstDifference(tok, got, want))
					continue
				}
				withSpecial := append(append(tok.Prefix(), got...), tok.Suffix()...)
				if !slices.Equal(withSpecial, m.IDsWithSpecial[k]) {
					fail("text %d %.60q: with special tokens %v..., reference %v...", k, text, head(withSpecial), head(m.IDsWithSpecial[k]))
				}
				dec := tok.Decode(want)
				if dec != m.Decoded[k] {
					fail("text %d: Decode gives %.80q, reference %.80q", k, dec, m.Decoded[k])
				}
				if wantText := text; lossless {
					if tok.hf.nfc {
						wantText = norm.NFC.String(text)
					}
					if dec != wantText {
						fail("text %d: Decode(Encode(%.60q)) = %.60q", k, text, dec)
					}
				}
			}
			if failures > 5 {
				t.Errorf("... and %d more differences", failures-5)
			}
			t.Logf("%d texts, %d tokens", len(ref.Texts), tokens)
		})
	}
}

func head(ids []int) []int { return ids[:min(len(ids), 8)] }

// firstDifference shows where two encodings part, with the tokens' text.
func firstDifference(tok *Tokenizer, got, want []int) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	show := func(ids []int) string {
		var parts []string
		for _, id := range ids[i:min(len(ids), i+6)] {
			parts = append(parts, fmt.Sprintf("%d%q", id, tok.TokenBytes(id)))
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprintf("after %d equal tokens (%q)\n got %s\nwant %s", i, tok.Decode(want[max(0, i-3):i]), show(got), show(want))
}

// BenchmarkEncodeHF encodes the reference texts with each real model's
// tokenizer at its full size; its cache is warm after the first round, as
// it is when a run encodes a data set.
func BenchmarkEncodeHF(b *testing.B) {
	ref := hfRef(b)
	text := strings.Join(ref.Texts, "\n\n")
	for i, m := range ref.Models {
		if strings.HasPrefix(m.Name, "fixture-") {
			continue
		}
		b.Run(m.Name, func(b *testing.B) {
			tok := ref.load(b, i)
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				tok.Encode(text)
			}
		})
	}
}

// BenchmarkEncodeHFCold is BenchmarkEncodeHF on text the cache has not
// seen, as the first pass over a data set is.
func BenchmarkEncodeHFCold(b *testing.B) {
	ref := hfRef(b)
	text := strings.Join(ref.Texts, "\n\n")
	for i, m := range ref.Models {
		if m.Name != "llama3" && m.Name != "qwen2.5" {
			continue
		}
		b.Run(m.Name, func(b *testing.B) {
			tok := ref.load(b, i)
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				tok.mu.Lock()
				clear(tok.cache)
				tok.mu.Unlock()
				tok.Encode(text)
			}
		})
	}
}

// BenchmarkLoadHF loads the largest real tokenizer.json in the data.
func BenchmarkLoadHF(b *testing.B) {
	ref := hfRef(b)
	for _, m := range ref.Models {
		if m.Name != "llama3" {
			continue
		}
		dir := filepath.Join(ref.dir, m.Dir)
		for b.Loop() {
			if _, err := LoadHF(dir); err != nil {
				b.Fatal(err)
			}
		}
	}
}
