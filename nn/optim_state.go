package nn

// Moments returns AdamW's first and second moments of p, nil before its
// first update: with Updates, what a checkpoint needs to resume training
// bit for bit.
func (o *AdamW) Moments(p *Param) (m, v []float64) {
	if st := o.state[p]; st != nil {
		return st.m, st.v
	}
	return nil, nil
}

// Restore sets the update count and the moments of each parameter, as a
// checkpoint holds them (moments[p] = {m, v}); parameters it omits start
// afresh.
func (o *AdamW) Restore(step int, moments map[*Param][2][]float64) {
	o.step = step
	o.state = map[*Param]*adamState{}
	for p, mv := range moments {
		o.state[p] = &adamState{m: append([]float64(nil), mv[0]...), v: append([]float64(nil), mv[1]...)}
	}
}
