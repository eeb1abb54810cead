package tasks

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTrainNested checks that for one seed every smaller training set is a
// prefix of every larger one, and that the draw depends on the seed.
func TestTrainNested(t *testing.T) {
	for _, name := range []string{"sentiment", "topic", "arith"} {
		task := mustLoad(t, name)
		for _, seed := range []int64{0, 1, 42} {
			all, err := task.Train(0, seed)
			if err != nil {
				t.Fatal(err)
			}
			train, _ := task.Split("train")
			if len(all) != len(train) {
				t.Fatalf("%s: Train(0) has %d examples, want the whole split (%d)", name, len(all), len(train))
			}
			seen := map[string]bool{}
			for _, e := range all {
				if seen[e.ID] {
					t.Fatalf("%s: %s drawn twice", name, e.ID)
				}
				seen[e.ID] = true
			}
			for _, n := range []int{1, 8, 32, 64, 100, 500} {
				sub, err := task.Train(n, seed)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(all[:n], sub); diff != "" {
					t.Fatalf("%s seed %d: Train(%d) is not a prefix of Train(all):\n%s", name, seed, n, diff)
				}
			}
		}
		a, _ := task.Train(32, 1)
		b, _ := task.Train(32, 2)
		if cmp.Equal(a, b) {
			t.Errorf("%s: seeds 1 and 2 draw the same 32 examples", name)
		}
	}
}

// TestTrainStratified checks the class balance of every prefix: each class
// is present once the prefix is as long as the number of classes, and
// within one example of its proportional share once that share is at
// least one example.
func TestTrainStratified(t *testing.T) {
	for _, name := range []string{"sentiment", "spam", "topic"} {
		task := mustLoad(t, name)
		split, _ := task.SplitLabels("train")
		k := len(task.Labels)
		total := make([]int, k)
		for _, l := range split {
			total[l]++
		}
		for _, seed := range []int64{0, 7} {
			all, _ := task.Train(0, seed)
			count := make([]int, k)
			worst := 0.0
			for n := 1; n <= len(all); n++ {
				count[all[n-1].Label]++
				for c := 0; c < k; c++ {
					share := float64(n) * float64(total[c]) / float64(len(split))
					if n >= k && count[c] == 0 {
						t.Fatalf("%s seed %d: class %d missing from the first %d", name, seed, c, n)
					}
					if share >= 1 {
						worst = math.Max(worst, math.Abs(float64(count[c])-share))
					}
				}
			}
			if worst >= 1 {
				t.Errorf("%s seed %d: a class strays %.3f examples from its share", name, seed, worst)
			}
		}
	}
}

func TestStratifiedOrderSmall(t *testing.T) {
	// 6 of class 0, 3 of class 1, 1 of class 2.
	labels := []int{0, 1, 0, 2, 0, 1, 0, 0, 1, 0}
	order := stratifiedOrder(labels, 3, 5, len(labels))
	got := make([]int, len(order))
	for i, j := range order {
		got[i] = labels[j]
	}
	// One of each class first, then the largest deficit: worked by hand.
	want := []int{0, 1, 2, 0, 0, 1, 0, 0, 1, 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("class sequence (-want +got):\n%s", diff)
	}
}
