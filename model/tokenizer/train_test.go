package tokenizer

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// naiveTrain recounts every pair from scratch at each step; it is the
// specification that the incremental trainer must match, merge for merge.
func naiveTrain(docs []string, vocabSize int) [][2]string {
	type word struct {
		syms  []string
		count int
	}
	freq := map[string]int{}
	for _, d := range docs {
		for _, w := range pretokenize(d) {
			freq[w]++
		}
	}
	var words []word
	for w, n := range freq {
		syms := make([]string, len(w))
		for i := range len(w) {
			syms[i] = w[i : i+1]
		}
		words = append(words, word{syms, n})
	}
	vocab := map[string]bool{}
	for b := range 256 {
		vocab[string([]byte{byte(b)})] = true
	}
	var merges [][2]string
	for len(vocab) < vocabSize-1 {
		counts := map[[2]string]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w.syms); i++ {
				counts[[2]string{w.syms[i], w.syms[i+1]}] += w.count
			}
		}
		var best [2]string
		bestCount := 0
		for p, c := range counts {
			if c > bestCount || (c == bestCount && (p[0] < best[0] || (p[0] == best[0] && p[1] < best[1]))) {
				best, bestCount = p, c
			}
		}
		if bestCount == 0 {
			return nil
		}
		for wi, w := range words {
			var out []string
			for i := 0; i < len(w.syms); {
				if i+1 < len(w.syms) && w.syms[i] == best[0] && w.syms[i+1] == best[1] {
					out = append(out, best[0]+best[1])
					i += 2
				} else {
					out = append(out, w.syms[i])
					i++
				}
			}
			words[wi].syms = out
		}
		vocab[best[0]+best[1]] = true
		merges = append(merges, best)
	}
	return merges
}

func mergeStrings(tok *Tokenizer) [][2]string {
	var out [][2]string
	for _, r := range tok.rules {
		out = append(out, [2]string{string(tok.tokens[r.left]), string(tok.tokens[r.right])})
	}
	return out
}

func TestTrainMatchesNaive(t *testing.T) {
	// A tiny alphabet forces many count ties and many pairs that join to an
	// already known token ("a"+"bc" after "ab"+"c").
	r := rand.New(rand.NewPCG(3, 4))
	var small []string
	for range 40 {
		var sb strings.Builder
		for range 60 {
			sb.WriteByte("abc  "[r.IntN(5)])
		}
		small = append(small, sb.String())
	}
	tests := []struct {
		name      string
		docs      []string
		vocabSize int
	}{
		{"sample", sampleDocs(t), 450},
		{"tiny alphabet", small, 330},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Train(tt.docs, tt.vocabSize)
			if err != nil {
				t.Fatal(err)
			}
			if tok.VocabSize() != tt.vocabSize {
				t.Errorf("VocabSize() = %d, want %d", tok.VocabSize(), tt.vocabSize)
			}
			if got, want := mergeStrings(tok), naiveTrain(tt.docs, tt.vocabSize); !reflect.DeepEqual(got, want) {
				for i := range min(len(got), len(want)) {
					if got[i] != want[i] {
						t.Fatalf("merge %d: got %q, want %q (%d vs %d merges)", i, got[i], want[i], len(got), len(want))
					}
				}
				t.Fatalf("got %d merges, want %d", len(got), len(want))
			}
		})
	}
}

func TestTrainDeterministic(t *testing.T) {
	docs := sampleDocs(t)
	a, err := Train(docs, 400)
	if err != nil {
		t.Fatal(err)
	}
	reversed := slices.Clone(docs)
	slices.Reverse(reversed)
	for _, d := range [][]string{docs, reversed} {
		b, err := Train(d, 400)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.tokens, b.tokens) || !reflect.DeepEqual(a.rules, b.rules) {
			t.Fatal("training twice on the same documents gave different vocabularies")
		}
	}
}

func TestTrainErrors(t *testing.T) {
	tests := []struct {
		name      string
		docs      []string
		vocabSize int
		want      string
	}{
		{"vocabulary too small", []string{"some text"}, 256, "too small"},
		{"negative vocabulary", []string{"some text"}, -1, "too small"},
		{"corpus too small", []string{"ab ab"}, 300, "yields only"},
		{"no documents", nil, 258, "yields only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Train(tt.docs, tt.vocabSize)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Train error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	// The smallest vocabulary has no merges and encodes bytes one by one.
	tok, err := Train(nil, minVocabSize)
	if err != nil {
		t.Fatal(err)
	}
	if ids := tok.Encode("hi!"); !slices.Equal(ids, []int{'h', 'i', '!'}) {
		t.Errorf("byte-only Encode(\"hi!\") = %v", ids)
	}
}

func BenchmarkTrain(b *testing.B) {
	docs := sampleDocs(b)
	for b.Loop() {
		if _, err := Train(docs, 500); err != nil {
			b.Fatal(err)
		}
	}
}
