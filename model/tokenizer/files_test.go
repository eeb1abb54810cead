package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSaveLoad(t *testing.T) {
	tok := testTokenizer(t)
	dir := filepath.Join(t.TempDir(), "tok")
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	vocab, _ := os.ReadFile(filepath.Join(dir, VocabFile))
	merges, _ := os.ReadFile(filepath.Join(dir, MergesFile))
	fromFS, err := LoadFS(fstest.MapFS{
		"models/tok/vocab.json": {Data: vocab},
		"models/tok/merges.txt": {Data: merges},
	}, "models/tok")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := sampleText()
	inputs := append(slices.Clone(roundTripCases), s)
	for _, got := range []*Tokenizer{loaded, fromFS} {
		if !reflect.DeepEqual(got.tokens, tok.tokens) || !reflect.DeepEqual(got.rules, tok.rules) || got.eot != tok.eot {
			t.Fatal("loaded vocabulary differs from the saved one")
		}
		for _, in := range inputs {
			if a, b := tok.Encode(in), got.Encode(in); !slices.Equal(a, b) {
				t.Errorf("Encode(%.40q): saved %v, loaded %v", in, a, b)
			}
		}
	}
}

// TestSavedLayout checks the details that Hugging Face's GPT2Tokenizer
// relies on.
func TestSavedLayout(t *testing.T) {
	tok := testTokenizer(t)
	dir := t.TempDir()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, VocabFile))
	if err != nil {
		t.Fatal(err)
	}
	var vocab map[string]int
	if err := json.Unmarshal(data, &vocab); err != nil {
		t.Fatal(err)
	}
	if len(vocab) != tok.VocabSize() {
		t.Errorf("vocab.json has %d entries, want %d", len(vocab), tok.VocabSize())
	}
	for text, id := range map[string]int{"Ġ": ' ', "Ċ": '\n', "Ā": 0, "Ń": 0xAD, "a": 'a', EndOfText: tok.EOT()} {
		if got, ok := vocab[text]; !ok || got != id {
			t.Errorf("vocab.json[%q] = %d, %v; want %d", text, got, ok, id)
		}
	}
	theID := tok.Encode(" the")
	if len(theID) != 1 || vocab["Ġthe"] != theID[0] {
		t.Errorf(`vocab.json["Ġthe"] = %d, Encode(" the") = %v`, vocab["Ġthe"], theID)
	}

	data, err = os.ReadFile(filepath.Join(dir, MergesFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if lines[0] != "#version: 0.2" {
		t.Errorf("merges.txt starts with %q", lines[0])
	}
	// The slow GPT2Tokenizer drops the last element after splitting on
	// newlines, so the file must end with one.
	if lines[len(lines)-1] != "" {
		t.Error("merges.txt does not end with a newline")
	}
	if n := len(lines) - 2; n != len(tok.rules) {
		t.Errorf("merges.txt has %d merges, want %d", n, len(tok.rules))
	}
	for _, l := range lines[1 : len(lines)-1] {
		if strings.Count(l, " ") != 1 {
			t.Errorf("merges.txt line %q is not two tokens", l)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	small, err := Train(sampleDocs(t), 260)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := small.Save(dir); err != nil {
		t.Fatal(err)
	}
	vocabBytes, _ := os.ReadFile(filepath.Join(dir, VocabFile))
	mergesBytes, _ := os.ReadFile(filepath.Join(dir, MergesFile))
	vocab, merges := string(vocabBytes), string(mergesBytes)
	vocabLines := strings.Split(vocab, "\n")
	firstMerge := strings.Split(merges, "\n")[1]
	// Line 2 holds the token for byte 0, 'Ā'.
	withLine := func(lines []string, i int, s string) string {
		lines = slices.Clone(lines)
		lines[i-1] = s
		return strings.Join(lines, "\n")
	}

	tests := []struct {
		name          string
		vocab, merges string
		want          string
	}{
		{"vocab syntax", withLine(vocabLines, 3, `  "ā" 1,`), merges, "vocab.json:3:"},
		{"vocab truncated", vocab[:len(vocab)/2], merges, "vocab.json:"},
		{"vocab not an object", `["a"]`, merges, "vocab.json:1: want a JSON object"},
		{"vocab trailing data", vocab + "{}", merges, "after the vocabulary"},
		{"id not a number", withLine(vocabLines, 3, `  "ā": "1",`), merges, `vocab.json:3: token "ā": id is not a number`},
		{"negative id", withLine(vocabLines, 3, `  "ā": -1,`), merges, "vocab.json:3: token \"ā\": bad id -1"},
		{"duplicate id", withLine(vocabLines, 3, `  "ā": 0,`), merges, "vocab.json:3: id 0 given to both"},
		{"duplicate token", withLine(vocabLines, 3, `  "Ā": 1,`), merges, `vocab.json:3: token "Ā" listed twice (first on line 2)`},
		{"id out of range", withLine(vocabLines, 3, `  "ā": 999,`), merges, "vocab.json:3: token \"ā\": id 999 out of range"},
		{"not byte-encoded", withLine(vocabLines, 3, `  "a b": 1,`), merges, `vocab.json:3: token "a b" is not in GPT-2's`},
		{"missing byte", strings.Replace(vocab, `"Ā": 0`, `"Āxyz": 0`, 1), merges, "no token for byte 0x00"},
		{"missing EOT", strings.Replace(vocab, EndOfText, "<|eot|>", 1), merges, "no <|endoftext|> token"},
		{"merge with one token", vocab, "#version: 0.2\n" + firstMerge + "\nĠt\n", "merges.txt:3: want two tokens"},
		{"merge with three tokens", vocab, "#version: 0.2\n" + firstMerge + " h\n", "merges.txt:2: want two tokens"},
		{"merge of unknown token", vocab, "#version: 0.2\n" + firstMerge + "\nĠzzz re\n", `merges.txt:3: token "Ġzzz" is not in the vocabulary`},
		{"merge result unknown", vocab, "#version: 0.2\nq z\n", `merges.txt:2: the merged token "qz" is not in the vocabulary`},
		{"merge repeated", vocab, merges + firstMerge + "\n", "repeats line 2"},
		{"merge not byte-encoded", vocab, "#version: 0.2\na\x01 b\n", `merges.txt:2: "a\x01" is not in GPT-2's`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFS(fstest.MapFS{
				"vocab.json": {Data: []byte(tt.vocab)},
				"merges.txt": {Data: []byte(tt.merges)},
			}, ".")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadFS error = %v, want one containing %q", err, tt.want)
			}
		})
	}

	missing := filepath.Join(t.TempDir(), "nowhere")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), filepath.Join(missing, VocabFile)) {
		t.Errorf("Load of a missing directory: error %v does not name the file", err)
	}
	if err := os.Remove(filepath.Join(dir, MergesFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), MergesFile) {
		t.Errorf("Load without merges.txt: error %v does not name the file", err)
	}
}
