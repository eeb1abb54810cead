package tasks

import (
	"fmt"
	"strconv"
)

// Train returns a training set of dataSize examples (dataSize <= 0: the
// whole train split) drawn from the train split.
//
// The draw is stratified and nested: for one seed, Train(n) is exactly the
// first n examples of Train(m) for every m >= n, so a data-size sweep
// compares models trained on growing sets, not on unrelated ones. The order
// is the draw order; shuffle per epoch as usual.
//
// For classification each class is shuffled with its own stream of the
// seed; the draw then always takes the next example of the class furthest
// below its proportional share, except that every class is drawn once
// before any is drawn twice (largest classes first). So every prefix
// of at least len(Labels) examples holds every class that has data, and a
// class's count in a prefix of n stays within one of n times its share of
// the split once n times that share is at least one (TestTrainStratified
// checks the bound). Generation tasks are drawn by a seeded shuffle.
func (t *Task) Train(dataSize int, seed int64) ([]Example, error) {
	sd, ok := t.splits["train"]
	if !ok {
		return nil, fmt.Errorf("tasks: %s: no train split", t.Name)
	}
	n := len(sd.records)
	if dataSize > n {
		return nil, errorf(t.Path, 0, "data_size", "%d is larger than the train split (%d examples)", dataSize, n)
	}
	if dataSize <= 0 {
		dataSize = n
	}
	var order []int
	if t.Kind == KindClassification {
		order = stratifiedOrder(sd.labels, len(t.Labels), seed, dataSize)
	} else {
		order = newRNG(seed, "train-order").perm(n)[:dataSize]
	}
	out := make([]Example, len(order))
	for i, j := range order {
		out[i] = t.example(sd, j)
	}
	return out, nil
}

// stratifiedOrder returns the first size indices of the nested stratified
// draw order over labels (see Train).
func stratifiedOrder(labels []int, numLabels int, seed int64, size int) []int {
	byClass := make([][]int, numLabels)
	for i, l := range labels {
		byClass[l] = append(byClass[l], i)
	}
	for c := range byClass {
		r := newRNG(seed, "class-"+strconv.Itoa(c))
		idx := byClass[c]
		r.shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	}
	total := len(labels)
	taken := make([]int, numLabels)
	order := make([]int, 0, size)
	take := func(c int) {
		order = append(order, byClass[c][taken[c]])
		taken[c]++
	}
	missing := 0 // classes with data not yet drawn
	for c := range byClass {
		if len(byClass[c]) > 0 {
			missing++
		}
	}
	for len(order) < size {
		// Deficit of class c after the next draw: (k+1)*share - taken.
		// Compared in integers, (k+1)*len(c) - taken*total, to keep ties
		// exact and the order independent of floating point. Until every
		// class has been drawn once, only undrawn classes compete, so the
		// first draws go to the largest classes.
		k := int64(len(order) + 1)
		best, bestDef := -1, int64(0)
		for c := 0; c < numLabels; c++ {
			if taken[c] == len(byClass[c]) || (missing > 0 && taken[c] > 0) {
				continue
			}
			def := k*int64(len(byClass[c])) - int64(taken[c])*int64(total)
			if best < 0 || def > bestDef {
				best, bestDef = c, def
			}
		}
		if taken[best] == 0 {
			missing--
		}
		take(best)
	}
	return order
}
