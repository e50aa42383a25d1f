package speech

import "context"

// fakeRec is a Recognizer with a lexicon only.
type fakeRec struct{ lex lexicon }

func (f fakeRec) Align(context.Context, []int16, []AlignWord) ([]Segment, error) { return nil, nil }
func (f fakeRec) Spot(context.Context, []int16, []SpotPhrase) ([]Segment, error) { return nil, nil }
func (f fakeRec) Detect(context.Context, []int16, [][]string) ([]Segment, error) { return nil, nil }
func (f fakeRec) PhoneLoop(context.Context, []int16) ([]Segment, error)          { return nil, nil }
func (f fakeRec) Pronounce(w string) []Pron                                      { return f.lex.Pronounce(w) }
func (f fakeRec) Info() EngineInfo                                               { return EngineInfo{Name: "fake"} }
