package methods

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"sort"
	"strings"
)

// PEFT's config names. A method's settings may use the names of HF PEFT's
// config classes (LoraConfig's r, lora_alpha, ...) beside this package's
// own; Canonical turns them into the own names before anything resolves
// or hashes them, so a spec in either spelling gives the same trials.
// FromPEFTConfig reads a whole adapter_config.json as a method's settings.

// peftField is one PEFT config field a method accepts: the hyper-parameter
// it sets (to), with its value converted (conv: nil keeps it), or, with
// to empty, a field whose value conv only checks, because it either
// describes what is always so here (task_type CAUSAL_LM) or is derived
// from the base model (token_dim).
type peftField struct {
	to   string
	conv func(any) (any, error)
}

// peftFields lists, per method, the PEFT fields it accepts; a field of a
// PEFT config not listed is refused with its name.
var peftFields = map[string]map[string]peftField{
	"lora": loraFields(false),
	"dora": loraFields(true),
	"ia3": {
		"target_modules":      {to: "targets", conv: ia3Targets},
		"feedforward_modules": {conv: ia3Feedforward},
		"fan_in_fan_out":      {conv: anyBool},
		"init_ia3_weights":    {conv: only(true, "this package starts every scale at one")},
		"modules_to_save":     {conv: none("training other modules beside the adapter")},
	},
	"adalora": adaloraFields(),
	"loha":    lycorisFields("loha"),
	"lokr":    lycorisFields("lokr"),
	// OFTConfig since PEFT 0.14: its names are this package's own but for
	// target_modules; the options not implemented are refused here, so a
	// file says which field it is.
	"oft": {
		"r":                        {to: "r"},
		"oft_block_size":           {to: "oft_block_size"},
		"num_cayley_neumann_terms": {to: "num_cayley_neumann_terms"},
		"eps":                      {to: "eps"},
		"use_cayley_neumann":       {conv: only(true, "the exact Cayley transform needs a linear solve, which the engine lacks")},
		"module_dropout":           {conv: only(0.0, "multiplicative block dropout")},
		"coft":                     {conv: only(false, "constrained OFT")},
		"block_share":              {conv: only(false, "one block shared across a layer")},
		"target_modules":           {to: "targets", conv: peftTargetModules},
		"fan_in_fan_out":           {conv: anyBool}, // read from the model here
		"bias":                     {conv: only("none", "OFT here trains no bias; BitFit trains biases")},
		"init_weights":             {conv: only(true, "this package starts every block at the identity, as PEFT's default")},
		"exclude_modules":          {conv: none("excluding modules")},
		"layers_to_transform":      {conv: none("adapting only some layers (give targets as globs such as h.0.*)")},
		"layers_pattern":           {conv: none("adapting only some layers")},
		"modules_to_save":          {conv: none("training other modules beside the adapter")},
	},
	"prompt": {
		"num_virtual_tokens":         {to: "length"},
		"prompt_tuning_init":         {to: "init", conv: promptInit},
		"prompt_tuning_init_text":    {to: "init_text", conv: nullOr},
		"tokenizer_name_or_path":     {conv: anyValue},
		"tokenizer_kwargs":           {conv: anyValue},
		"token_dim":                  {conv: anyValue},
		"num_transformer_submodules": {conv: only(1.0, "a decoder-only model has one transformer")},
		"num_attention_heads":        {conv: anyValue},
		"num_layers":                 {conv: anyValue},
	},
	// PromptEncoderConfig: the encoder fields other than its width are
	// checked, not set (ptuning says why each allows one value).
	"ptuning": {
		"num_virtual_tokens":              {to: "length"},
		"encoder_hidden_size":             {to: "encoder_hidden_size"},
		"encoder_reparameterization_type": {conv: only("MLP", "the engine has no LSTM op; MLP is PEFT's default")},
		"encoder_num_layers":              {conv: only(2.0, "PEFT's MLP encoder always has two hidden layers and ignores encoder_num_layers, which only its LSTM reads")},
		"encoder_dropout":                 {conv: only(0.0, "PEFT's MLP encoder has no dropout; encoder_dropout is its LSTM's")},
		"token_dim":                       {conv: anyValue},
		"num_transformer_submodules":      {conv: only(1.0, "a decoder-only model has one transformer")},
		"num_attention_heads":             {conv: anyValue},
		"num_layers":                      {conv: anyValue},
	},
	"vera": {
		"r":              {to: "rank"},
		"d_initial":      {to: "d_initial"},
		"vera_dropout":   {to: "dropout"},
		"target_modules": {to: "targets", conv: peftTargetModules},
		// PEFT regenerates absent projections from projection_prng_key with
		// torch's generator, which is not reproduced here: the file must
		// hold them.
		"save_projection":       {conv: only(true, "without vera_A and vera_B in the file, PEFT regenerates them from projection_prng_key with torch's generator, which this package does not reproduce; save the adapter with save_projection true")},
		"projection_prng_key":   {conv: anyValue},
		"regenerate_projection": {conv: anyBool},
		"fan_in_fan_out":        {conv: anyBool}, // PEFT sets it from the module's class, as this package reads the layout from the model
		"bias":                  {conv: only("none", "VeRA here trains no bias; BitFit trains biases")},
		"init_weights":          {conv: only(true, "this package starts d at d_initial and b at zero")},
		"init_vera_weights":     {conv: only(true, "this package starts d at d_initial and b at zero")},
		"modules_to_save":       {conv: none("training other modules beside the adapter")},
		"layers_to_transform":   {conv: none("adapting only some layers (give targets as globs such as h.0.*)")},
		"layers_pattern":        {conv: none("adapting only some layers")},
		"rank_pattern":          {conv: none("a rank per module")},
		"alpha_pattern":         {conv: none("an alpha per module")},
	},
	"lntuning": {
		"target_modules":  {to: "norms", conv: lnTargets},
		"exclude_modules": {conv: none("excluding modules")},
		"modules_to_save": {conv: none("training other modules beside the adapter")},
	},
	"prefix": {
		"num_virtual_tokens":         {to: "length"},
		"prefix_projection":          {to: "projection"},
		"encoder_hidden_size":        {to: "hidden"},
		"token_dim":                  {conv: anyValue},
		"num_transformer_submodules": {conv: only(1.0, "a decoder-only model has one transformer")},
		"num_attention_heads":        {conv: anyValue},
		"num_layers":                 {conv: anyValue},
	},
}

// commonPEFT are the fields every PEFT config has, whatever the method.
var commonPEFT = map[string]peftField{
	"task_type":               {conv: only("CAUSAL_LM", "tasks here are causal language modelling")},
	"inference_mode":          {conv: anyBool},
	"base_model_name_or_path": {conv: anyValue},
	"revision":                {conv: anyValue},
	"auto_mapping":            {conv: anyValue},
	"peft_version":            {conv: anyValue},
}

func loraFields(dora bool) map[string]peftField {
	method := map[bool]string{false: "lora", true: "dora"}[dora]
	other := map[bool]string{false: "dora", true: "lora"}[dora]
	// LoRA's options (rsLoRA, PiSSA and OLoRA); DoRA has none of them.
	rsLoRA := peftField{to: "rslora"}
	loraInit := peftField{to: "init", conv: loraInitWeights}
	if dora {
		rsLoRA = peftField{conv: only(false, "DoRA here scales by alpha/r; rank-stabilised scaling is LoRA's option (method lora, rslora)")}
		loraInit = peftField{conv: only(true, "DoRA here starts A at random and B at zero, as PEFT's default")}
	}
	return map[string]peftField{
		"r":                       {to: "rank"},
		"lora_alpha":              {to: "alpha"},
		"lora_dropout":            {to: "dropout"},
		"target_modules":          {to: "targets", conv: peftTargetModules},
		"use_rslora":              rsLoRA,
		"use_dora":                {conv: only(dora, fmt.Sprintf("method %s is %s; use method %s", method, map[bool]string{false: "plain LoRA", true: "DoRA"}[dora], other))},
		"bias":                    {conv: only("none", "LoRA here trains no bias; BitFit trains biases")},
		"fan_in_fan_out":          {conv: anyBool}, // how GPT-2's Conv1D stores weights: read from the model here
		"init_lora_weights":       loraInit,
		"modules_to_save":         {conv: none("training other modules beside the adapter")},
		"layers_to_transform":     {conv: none("adapting only some layers (give targets as globs such as h.0.*)")},
		"layers_pattern":          {conv: none("adapting only some layers")},
		"rank_pattern":            {conv: none("a rank per module")},
		"alpha_pattern":           {conv: none("an alpha per module")},
		"megatron_config":         {conv: none("Megatron layers")},
		"megatron_core":           {conv: anyValue},
		"loftq_config":            {conv: none("LoftQ initialisation")},
		"layer_replication":       {conv: none("layer replication")},
		"runtime_config":          {conv: anyValue},
		"eva_config":              {conv: none("EVA initialisation")},
		"corda_config":            {conv: none("CorDA initialisation")},
		"exclude_modules":         {conv: none("excluding modules")},
		"lora_bias":               {conv: only(false, "a bias on lora_B")},
		"use_qalora":              {conv: only(false, "QA-LoRA")},
		"trainable_token_indices": {conv: none("training token embeddings beside the adapter")},
		"target_parameters":       {conv: none("targeting parameters rather than modules")},
	}
}

// adaloraFields are AdaLoraConfig's: LoraConfig's, with its r unused
// (AdaLoRA starts at init_r), target_r this package's rank, and
// total_step taken from the trial's planned optimiser steps instead.
func adaloraFields() map[string]peftField {
	f := loraFields(false)
	f["r"] = peftField{conv: anyValue}
	f["use_rslora"] = peftField{conv: only(false, "AdaLoRA scales by lora_alpha/init_r")}
	f["use_dora"] = peftField{conv: only(false, "AdaLoRA has no magnitude vector")}
	f["init_lora_weights"] = peftField{conv: only(true, "this package starts λ at zero and P, Q normal(0, 0.02), as PEFT's default")}
	f["target_r"] = peftField{to: "rank"}
	for _, k := range []string{"init_r", "tinit", "tfinal", "deltaT", "beta1", "beta2", "orth_reg_weight"} {
		f[k] = peftField{to: k}
	}
	f["total_step"] = peftField{conv: anyValue}   // the trainer's planned number of steps, here
	f["rank_pattern"] = peftField{conv: anyValue} // the allocator's result: LoadPEFT reads it with the weights
	return f
}

// lycorisFields are LoHaConfig's and LoKrConfig's fields.
func lycorisFields(method string) map[string]peftField {
	f := map[string]peftField{
		"r":                    {to: "rank"},
		"alpha":                {to: "alpha"},
		"target_modules":       {to: "targets", conv: peftTargetModules},
		"rank_dropout":         {conv: only(0.0, "rank dropout")},
		"module_dropout":       {conv: only(0.0, "module dropout")},
		"use_effective_conv2d": {conv: anyBool}, // Conv2d layers only
		"init_weights":         {conv: only(true, "this package starts the update at zero, as PEFT's default")},
		"exclude_modules":      {conv: none("excluding modules")},
		"layers_to_transform":  {conv: none("adapting only some layers (give targets as globs such as h.0.*)")},
		"layers_pattern":       {conv: none("adapting only some layers")},
		"rank_pattern":         {conv: none("a rank per module")},
		"alpha_pattern":        {conv: none("an alpha per module")},
		"modules_to_save":      {conv: none("training other modules beside the adapter")},
	}
	if method == "loha" {
		// ABBA's options (PEFT 0.18): off unless its initialisation asks.
		f["use_khatri_rao"] = peftField{conv: func(v any) (any, error) {
			if v == nil || v == false || v == "auto" {
				return nil, nil
			}
			return nil, fmt.Errorf("%v is not supported (the Khatri-Rao path scales by alpha²/r)", v)
		}}
		f["r2"] = peftField{conv: none("a second rank for W2a·W2b")}
	} else {
		f["decompose_both"] = peftField{to: "decompose_both"}
		f["decompose_factor"] = peftField{to: "decompose_factor"}
		f["rank_dropout_scale"] = peftField{conv: anyBool} // moot without rank dropout
	}
	return f
}

// Canonical turns one setting of method, given under PEFT's name or this
// package's, into this package's name and value. keep is false for a PEFT
// field that sets nothing here (its value was checked). Errors name the
// field as given.
func Canonical(method, key string, v any) (name string, val any, keep bool, err error) {
	f, ok := peftFields[method][key]
	if !ok {
		if f, ok = commonPEFT[key]; !ok {
			return key, v, true, nil // this package's own name, or unknown: Resolve says which
		}
	}
	if f.conv != nil {
		if v, err = f.conv(v); err != nil {
			return "", nil, false, fmt.Errorf("field %q: %w", key, err)
		}
	}
	// null is PEFT's "the default": the hyper-parameter's default here.
	return f.to, v, f.to != "" && v != nil, nil
}

// Normalize rewrites a method's settings into this package's names
// (Canonical); a setting given under both names is an error.
func Normalize(method string, raw map[string]any) (map[string]any, error) {
	out := map[string]any{}
	from := map[string]string{}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, v, keep, err := Canonical(method, k, raw[k])
		if err != nil {
			return nil, fmt.Errorf("methods: %s: %w", method, err)
		}
		if !keep {
			continue
		}
		if prev, dup := from[name]; dup {
			return nil, fmt.Errorf("methods: %s: fields %q and %q both set %q", method, prev, k, name)
		}
		from[name], out[name] = k, v
	}
	return out, nil
}

// peftTypes maps PEFT's peft_type to the methods that read its configs.
var peftTypes = map[string]string{"LORA": "lora", "IA3": "ia3", "PROMPT_TUNING": "prompt", "PREFIX_TUNING": "prefix",
	"P_TUNING": "ptuning", "VERA": "vera", "LN_TUNING": "lntuning", "LOHA": "loha", "LOKR": "lokr", "OFT": "oft",
	"ADALORA": "adalora"}

// FromPEFTConfig reads an adapter_config.json as the settings of method:
// its peft_type must be the method's (LORA with use_dora for dora), and
// every field must be one the method accepts (peftFields), with a value
// it supports. Errors name the file and the field.
func FromPEFTConfig(method, file string) (map[string]any, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("methods: %w", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("methods: %s: %w", file, err)
	}
	return fromPEFT(method, file, cfg)
}

// peftMethod is the method that reads a PEFT config of peft_type typ.
func peftMethod(cfg map[string]any) string {
	typ, _ := cfg["peft_type"].(string)
	if typ == "LORA" && cfg["use_dora"] == true {
		return "dora"
	}
	return peftTypes[typ]
}

// fromPEFT is FromPEFTConfig on a decoded config.
func fromPEFT(method, file string, cfg map[string]any) (map[string]any, error) {
	cfg = maps.Clone(cfg)
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("methods: %s: field %q: %s", file, field, fmt.Sprintf(format, args...))
	}
	typ, _ := cfg["peft_type"].(string)
	want := peftMethod(cfg)
	if want == "" {
		var have []string
		for t := range peftTypes {
			have = append(have, t)
		}
		sort.Strings(have)
		return nil, bad("peft_type", "%v is not a PEFT type this package reads (%s)", cfg["peft_type"], strings.Join(have, ", "))
	}
	if want != method {
		return nil, bad("peft_type", "%s is method %s here, not %s", typ, want, method)
	}
	delete(cfg, "peft_type")
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := map[string]any{}
	for _, k := range keys {
		_, known := peftFields[method][k]
		if _, common := commonPEFT[k]; !known && !common {
			return nil, bad(k, "not supported by method %s here (it reads %s)", method, strings.Join(peftNames(method), ", "))
		}
		name, v, keep, err := Canonical(method, k, cfg[k])
		if err != nil {
			return nil, fmt.Errorf("methods: %s: %w", file, err)
		}
		if keep {
			out[name] = fromJSON(v)
		}
	}
	if _, given := cfg["target_modules"]; given && method == "ia3" {
		if err := ia3Consistent(cfg); err != nil {
			return nil, fmt.Errorf("methods: %s: %w", file, err)
		}
	}
	// Resolve checks the values against the method's ranges; its errors
	// name this package's field, so say which PEFT field it came from.
	m, err := Get(method)
	if err != nil {
		return nil, err
	}
	if _, err := Resolve(m, out); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

// peftNames lists the PEFT fields a method reads.
func peftNames(method string) []string {
	var out []string
	for k := range peftFields[method] {
		out = append(out, k)
	}
	sort.Strings(out)
	return append([]string{"peft_type"}, out...)
}

// fromJSON turns a JSON number that is a whole number into an int, as
// YAML decodes it, so a setting read from a file resolves and hashes as
// the same setting written in a spec.
func fromJSON(v any) any {
	if f, ok := v.(float64); ok && f == float64(int(f)) {
		return int(f)
	}
	return v
}

func anyValue(v any) (any, error) { return v, nil }

func anyBool(v any) (any, error) {
	if _, ok := v.(bool); !ok && v != nil {
		return nil, fmt.Errorf("%v is not true or false", v)
	}
	return v, nil
}

func nullOr(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	return v, nil
}

// only accepts want alone (or null, the field's default), saying why
// another value is not supported.
func only(want any, why string) func(any) (any, error) {
	return func(v any) (any, error) {
		if v == nil || v == want || fmt.Sprint(v) == fmt.Sprint(want) {
			return v, nil
		}
		return nil, fmt.Errorf("%v is not supported (%s)", v, why)
	}
}

// none accepts only an absent value: null, an empty list or mapping.
func none(what string) func(any) (any, error) {
	return func(v any) (any, error) {
		switch x := v.(type) {
		case nil:
			return nil, nil
		case []any:
			if len(x) == 0 {
				return nil, nil
			}
		case map[string]any:
			if len(x) == 0 {
				return nil, nil
			}
		}
		return nil, fmt.Errorf("%v is not supported (%s is not)", v, what)
	}
}

// regexMeta are the characters that make a string target_modules a
// regular expression to PEFT (a string is matched whole, as a regex).
var regexMeta = regexp.MustCompile(`[\\^$|()\[\]{}+?*]`)

// peftTargetModules reads target_modules: a list of module names (PEFT
// matches each as a suffix, as targets does here), "all-linear", or a
// plain name; a regular expression is refused.
func peftTargetModules(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if x == "all-linear" {
			return []any{"*"}, nil
		}
		if regexMeta.MatchString(x) {
			return nil, fmt.Errorf("%q is a regular expression to PEFT; give the module names as a list", x)
		}
		return x, nil // one name, or this package's comma list
	case []any, []string:
		return x, nil
	}
	return nil, fmt.Errorf("%v is not a list of module names", v)
}

// ia3Names maps PEFT's IA3 module names to what ia3 scales here: the
// outputs of k and v, and the MLP's activation (the input of its output
// layer, a feedforward module to PEFT).
var ia3Names = map[string]string{
	"k_proj": "k", "self_attn.k_proj": "k", "k": "k", "attn.k": "k",
	"v_proj": "v", "self_attn.v_proj": "v", "v": "v", "attn.v": "v",
	"down_proj": "ff", "mlp.down_proj": "ff", "mlp.c_proj": "ff", "ff": "ff", "mlp.proj": "ff", "mlp.down": "ff",
}

func stringsOf(v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		return strings.Split(x, ","), nil
	case []string:
		return x, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%v is not a module name", e)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("%v is not a list of module names", v)
}

func ia3Targets(v any) (any, error) {
	names, err := stringsOf(v)
	if err != nil {
		return nil, err
	}
	var out []any
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		t, ok := ia3Names[n]
		if !ok {
			return nil, fmt.Errorf("%q is not supported: IA3 here scales k_proj, v_proj and the MLP's down_proj (GPT-2: mlp.c_proj; its fused c_attn would scale q too)", n)
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// ia3Feedforward checks feedforward_modules: only the MLP's output layer,
// whose input IA3 scales.
func ia3Feedforward(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	names, err := stringsOf(v)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if ia3Names[strings.TrimSpace(n)] != "ff" {
			return nil, fmt.Errorf("%q is not supported: only the MLP's output layer (down_proj, mlp.c_proj) has its input scaled here", n)
		}
	}
	return v, nil
}

// ia3Consistent checks that a PEFT IA3 config's MLP target is also a
// feedforward module: IA3 here scales the MLP's activation, never the
// output of its last layer.
func ia3Consistent(cfg map[string]any) error {
	targets, err := stringsOf(cfg["target_modules"])
	if err != nil {
		return fmt.Errorf("field \"target_modules\": %w", err)
	}
	ff := map[string]bool{}
	if cfg["feedforward_modules"] != nil {
		names, err := stringsOf(cfg["feedforward_modules"])
		if err != nil {
			return fmt.Errorf("field \"feedforward_modules\": %w", err)
		}
		for _, n := range names {
			ff[n] = true
		}
	}
	for _, t := range targets {
		if ia3Names[t] == "ff" && !ff[t] {
			return fmt.Errorf("field \"feedforward_modules\": %q is in target_modules but not here: scaling its output is not supported (IA3 here scales its input)", t)
		}
	}
	for n := range ff {
		if !contains(targets, n) {
			return fmt.Errorf("field \"feedforward_modules\": %q is not in target_modules", n)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// promptInit maps prompt_tuning_init to init.
func promptInit(v any) (any, error) {
	switch v {
	case "RANDOM":
		return "random", nil
	case "TEXT":
		return "text", nil
	case "SAMPLE_VOCAB":
		return "vocab", nil
	}
	return nil, fmt.Errorf("%v is not supported (RANDOM, TEXT or SAMPLE_VOCAB)", v)
}

// loraInitWeights maps PEFT's init_lora_weights onto LoRA's init: true is
// PEFT's default (Kaiming-uniform A, zero B), "pissa" and "olora" the
// initialisations from the base weights.
func loraInitWeights(v any) (any, error) {
	switch v {
	case nil:
		return nil, nil
	case true:
		return "kaiming", nil
	case "pissa", "olora":
		return v, nil
	}
	return nil, fmt.Errorf("%v is not supported (true, \"pissa\" or \"olora\"; PiSSA here takes the exact SVD, not pissa_niter_N)", v)
}

// lnTargets reads LN tuning's target_modules as the norms group it names:
// each block's two norms (ln_1 and ln_2; Llama's input_layernorm and
// post_attention_layernorm), the final one (ln_f, Llama's norm), or all.
// Names may be full paths; paths that name layers must name the same
// layers, from 0 on, for both block norms (which layers a loaded adapter
// tunes, LoadPEFT reads from its tensors).
func lnTargets(v any) (any, error) {
	names, err := stringsOf(v)
	if err != nil {
		return nil, err
	}
	kinds := map[string]string{"ln_1": "1", "input_layernorm": "1", "ln_2": "2", "post_attention_layernorm": "2", "ln_f": "f", "norm": "f"}
	layers := map[string]map[int]bool{"1": {}, "2": {}, "f": {}}
	for _, n := range names {
		n = strings.TrimSpace(n)
		parts := strings.Split(n, ".")
		k, ok := kinds[parts[len(parts)-1]]
		if !ok {
			return nil, fmt.Errorf("%q is not supported: LN tuning here tunes the blocks' two norms and the final one (ln_1, ln_2, ln_f; input_layernorm, post_attention_layernorm, norm)", n)
		}
		layer := -1 // every layer
		if len(parts) >= 3 {
			fmt.Sscanf(parts[len(parts)-2], "%d", &layer)
		}
		layers[k][layer] = true
	}
	covers := func(k string) bool { // every layer, or layers 0..n-1 as the other block norm
		l := layers[k]
		if l[-1] {
			return true
		}
		for i := range len(l) {
			if !l[i] {
				return false
			}
		}
		return len(l) > 0
	}
	b1, b2, f := len(layers["1"]) > 0, len(layers["2"]) > 0, len(layers["f"]) > 0
	if b1 != b2 || (b1 && (!covers("1") || !covers("2") || (!layers["1"][-1] && !layers["2"][-1] && len(layers["1"]) != len(layers["2"])))) {
		return nil, fmt.Errorf("%v is not supported: LN tuning here tunes both norms of every block, or neither", v)
	}
	switch {
	case b1 && f:
		return "all", nil
	case b1:
		return "blocks", nil
	case f:
		return "final", nil
	}
	return nil, fmt.Errorf("%v names no norm", v)
}
