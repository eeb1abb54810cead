package trial

import "fmt"

// Augment is a data-augmentation loop around fine-tuning. The one kind so
// far is LLM2LLM (Lee et al., 2024, arXiv 2403.15042): fine-tune the
// student from the base model on the data so far, find the seed examples
// it gets wrong, have a teacher write PerError new examples like each, add
// those that are not near-duplicates, and repeat Iterations times; the
// student trained on the last data is the one tested.
type Augment struct {
	Kind       string `json:"kind"` // "llm2llm"
	Iterations int    `json:"iterations"`
	PerError   int    `json:"per_error"`
	// Teacher writes the new examples: "generator" (arith: new problems of
	// the failed one's structure), "pool" (the unused examples of the
	// training split nearest to the failed one), "pool-random" (as many
	// unused examples drawn at random: the control for targeting), or
	// "openai" (a server speaking the OpenAI chat-completions API).
	Teacher string `json:"teacher"`
	// URL, Model and KeyEnv (the environment variable holding the API
	// key; never the key itself) configure the openai teacher.
	URL    string `json:"url,omitempty"`
	Model  string `json:"model,omitempty"`
	KeyEnv string `json:"key_env,omitempty"`
}

// The teachers (Augment.Teacher).
const (
	TeacherGenerator  = "generator"
	TeacherPool       = "pool"
	TeacherPoolRandom = "pool-random"
	TeacherOpenAI     = "openai"
)

// AugmentKinds and Teachers are the values Augment's fields take.
var (
	AugmentKinds = []string{"llm2llm"}
	Teachers     = []string{TeacherGenerator, TeacherPool, TeacherPoolRandom, TeacherOpenAI}
)

// Label is a short description for progress lines and report labels:
// "llm2llm pool T=3 k=2".
func (a *Augment) Label() string {
	if a == nil {
		return ""
	}
	return fmt.Sprintf("%s %s T=%d k=%d", a.Kind, a.Teacher, a.Iterations, a.PerError)
}

// Round is one iteration of an augmentation loop: the student trained on
// DataSize examples (iteration 0: the seed data alone), scored on the seed
// examples and on test, and what the teacher then wrote for the next
// iteration (nothing after the last).
type Round struct {
	Iteration    int     `json:"iteration"`
	DataSize     int     `json:"data_size"`
	SeedErrors   int     `json:"seed_errors"`
	SeedAccuracy float64 `json:"seed_accuracy"`
	TestAccuracy float64 `json:"test_accuracy"`
	Teacher      Cost    `json:"teacher"`
	Seconds      float64 `json:"seconds"` // training, scoring and the teacher
}

// Cost is what a teacher was asked for and what came of it.
type Cost struct {
	Asked   int `json:"asked"`   // examples requested: seed errors × per_error
	Written int `json:"written"` // well-formed examples returned
	// Dropped answers: unparseable, or with a label the task does not have
	// (or, for generation, no numeric answer); requests that failed after
	// their retries (HTTP errors, timeouts).
	Malformed int `json:"malformed,omitempty"`
	OffLabel  int `json:"off_label,omitempty"`
	Failed    int `json:"failed_requests,omitempty"`
	// Duplicates are written examples dropped as near-duplicates of the
	// data or of each other; Kept joined the data.
	Duplicates int     `json:"duplicates"`
	Kept       int     `json:"kept"`
	Seconds    float64 `json:"seconds"`
}

// Add sums costs.
func (c *Cost) Add(o Cost) {
	c.Asked += o.Asked
	c.Written += o.Written
	c.Malformed += o.Malformed
	c.OffLabel += o.OffLabel
	c.Failed += o.Failed
	c.Duplicates += o.Duplicates
	c.Kept += o.Kept
	c.Seconds += o.Seconds
}
