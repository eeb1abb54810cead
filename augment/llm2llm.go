package augment

import (
	"fmt"
	"slices"
	"time"

	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
)

// A Student is what LLM2LLM trains and scores.
type Student interface {
	// Fit fine-tunes the student afresh from the base model on data.
	Fit(data []tasks.Example) error
	// Right scores the fitted student on examples: which it gets right.
	Right(examples []tasks.Example) ([]bool, error)
	// Test is the fitted student's accuracy on the test split.
	Test() (float64, error)
}

// LLM2LLM runs the loop of Lee et al. (2024, arXiv 2403.15042, Algorithm
// 1): for t = 0, 1, ..., fit the student from the base model on D_t (D_0
// is seed), score it on the seed examples only, and, while t < iterations,
// have the teacher write perError new examples like each seed example it
// got wrong; those that are not near-duplicates of D_t or of each other
// (ROUGE-L ≥ Duplicate) make D_{t+1}. Only seed examples are ever
// augmented. The loop stops early when an iteration adds nothing: the
// same data would give the same student. On return the student is the one
// fitted on the last data; the rounds record each iteration.
func LLM2LLM(seed []tasks.Example, iterations, perError int, teacher Teacher, st Student, logf func(string, ...any)) ([]trial.Round, error) {
	if iterations < 1 || perError < 1 {
		return nil, fmt.Errorf("augment: llm2llm needs iterations ≥ 1 and per_error ≥ 1 (have %d, %d)", iterations, perError)
	}
	data := slices.Clone(seed)
	var seen dedup
	for _, e := range data {
		seen.add(e.Text)
	}
	var rounds []trial.Round
	for t := 0; ; t++ {
		start := time.Now()
		if err := st.Fit(data); err != nil {
			return rounds, err
		}
		right, err := st.Right(seed)
		if err != nil {
			return rounds, err
		}
		var failed []tasks.Example
		for i, ok := range right {
			if !ok {
				failed = append(failed, seed[i])
			}
		}
		test, err := st.Test()
		if err != nil {
			return rounds, err
		}
		r := trial.Round{Iteration: t, DataSize: len(data), SeedErrors: len(failed),
			SeedAccuracy: float64(len(seed)-len(failed)) / float64(len(seed)), TestAccuracy: test}
		if t < iterations && len(failed) > 0 {
			written, cost, err := teacher.Write(failed, perError)
			if err != nil {
				return rounds, err
			}
			for _, e := range written {
				if seen.admit(e.Text) {
					data = append(data, e)
					cost.Kept++
				} else {
					cost.Duplicates++
				}
			}
			r.Teacher = cost
		}
		r.Seconds = time.Since(start).Seconds()
		rounds = append(rounds, r)
		logf("llm2llm iteration %d: %d examples, seed accuracy %.4f (%d errors), test %.4f; teacher wrote %d, kept %d",
			t, r.DataSize, r.SeedAccuracy, r.SeedErrors, r.TestAccuracy, r.Teacher.Written, r.Teacher.Kept)
		if t == iterations || r.Teacher.Kept == 0 {
			return rounds, nil
		}
	}
}

// NewTeacher makes the teacher a trial's augmentation names, for task,
// whose seed data is seedData; seed makes its choices reproducible.
func NewTeacher(a *trial.Augment, task *tasks.Task, seedData []tasks.Example, seed uint64) (Teacher, error) {
	if err := Check(a, task); err != nil {
		return nil, fmt.Errorf("augment: %w", err)
	}
	switch a.Teacher {
	case trial.TeacherGenerator:
		return NewGenerator(task, seed)
	case trial.TeacherPool, trial.TeacherPoolRandom:
		return NewPool(task, seedData, a.Teacher == trial.TeacherPoolRandom, seed)
	default: // openai
		return NewOpenAI(task, OpenAIConfig{URL: a.URL, Model: a.Model, KeyEnv: a.KeyEnv, Seed: seed})
	}
}
