package display

// The controls' names: trials a sweep adds beside its methods, so that a
// report can tell whether a method learnt anything from the base model at
// all. Package methods registers them; their declarations below say what
// each is.
const (
	// ZeroShot scores the base model as shipped, with no training.
	ZeroShot = "zeroshot"
	// Scratch trains every weight of the same architecture from a random
	// initialisation with full fine-tuning's budget.
	Scratch = "scratch"
)

// Role is what a method's trials are for.
type Role int

const (
	// Method is a fine-tuning method, compared with the others: the role
	// of every method not declared otherwise.
	Method Role = iota
	// Untrained is a control that trains nothing: the base model ranks
	// the labels as shipped. A sweep runs it once per model and task, at
	// no data size or seed.
	Untrained
	// Unpretrained is a control that trains with another method's budget
	// (Declaration.Of) after replacing the pre-trained weights with a
	// random initialisation: whether pre-training matters.
	Unpretrained
)

// Declaration is what a method is.
type Declaration struct {
	Name string
	Role Role
	// Of is, for an Unpretrained control, the method whose budget it
	// trains with (a sweep gives it that method's learning rates and data
	// sizes) and which reports set it against.
	Of string
	// Headline is the hyper-parameter that sizes the method: the one its
	// sweep axis varies, which labels name and the report's figures draw
	// accuracy against ("rank"); Symbol is its short name in labels ("r").
	// Empty for a method with none.
	Headline, Symbol string
}

// declarations is one table rather than a line in each method's file:
// readers of results (reports, and the result schema in package trial)
// do not link package methods, so they would never see what its init
// registers, and a control mistaken for a method would be silently
// ranked among them. Package methods' tests check the table against the
// registry. A method not listed is a method with no headline. Methods of
// one headline are listed in the order report titles name them.
var declarations = []Declaration{
	{Name: ZeroShot, Role: Untrained},
	{Name: Scratch, Role: Unpretrained, Of: "full"},
	{Name: "lora", Headline: "rank", Symbol: "r"},
	{Name: "adalora", Headline: "rank", Symbol: "r"},
	{Name: "dora", Headline: "rank", Symbol: "r"},
	{Name: "vera", Headline: "rank", Symbol: "r"},
	{Name: "loha", Headline: "rank", Symbol: "r"},
	{Name: "lokr", Headline: "rank", Symbol: "r"},
	{Name: "oft", Headline: "oft_block_size", Symbol: "b"},
	{Name: "prompt", Headline: "length", Symbol: "L"},
	{Name: "ptuning", Headline: "length", Symbol: "L"},
	{Name: "prefix", Headline: "length", Symbol: "L"},
	{Name: "adapter", Headline: "bottleneck", Symbol: "m"},
	{Name: "pac", Headline: "bottleneck", Symbol: "m"},
}

// Declarations lists every declaration, controls first.
func Declarations() []Declaration { return append([]Declaration(nil), declarations...) }

// Declared returns the method's declaration: for a method not listed, a
// method with no headline.
func Declared(method string) Declaration {
	for _, d := range declarations {
		if d.Name == method {
			return d
		}
	}
	return Declaration{Name: method}
}

// IsControl tells whether method is one of the controls.
func IsControl(method string) bool { return Declared(method).Role != Method }

// Controls lists the controls' names, in the order a sweep adds them.
func Controls() []string {
	var out []string
	for _, d := range declarations {
		if d.Role != Method {
			out = append(out, d.Name)
		}
	}
	return out
}

// Reference is the method the controls are set against: the one whose
// budget the unpretrained control trains with (its Of), full fine-tuning,
// which figures of a method against its size draw as the line it closes
// on. "" when no declaration names one.
func Reference() string {
	for _, d := range declarations {
		if d.Role == Unpretrained && d.Of != "" {
			return d.Of
		}
	}
	return ""
}

// WithHeadline lists the methods sized by the hyper-parameter param, in
// the table's order.
func WithHeadline(param string) []string {
	if param == "" {
		return nil
	}
	var out []string
	for _, d := range declarations {
		if d.Headline == param {
			out = append(out, d.Name)
		}
	}
	return out
}
