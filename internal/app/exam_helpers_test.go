package app

import (
	"context"
	"testing"

	"jnedu/internal/exam"
	"jnedu/internal/identity"
)

// demoExam loads the demo exam and returns it with its site codes.
func demoExam(t *testing.T, ta *testApp) (exam.Exam, []string) {
	t.Helper()
	ctx := context.Background()
	if _, err := ta.Exam.LoadDemo(ctx); err != nil {
		t.Fatal(err)
	}
	e, err := ta.Exam.ExamByCode(ctx, exam.DemoExamCode)
	if err != nil {
		t.Fatal(err)
	}
	sites, err := ta.Exam.DemoSites(ctx)
	if err != nil || len(sites) < 2 {
		t.Fatalf("demo sites %v: %v", sites, err)
	}
	return e, sites
}

// siteNode is a client speaking for an exam site node: the exam staff's
// API token in its Authorization header.
func siteNode(t *testing.T, ta *testApp) (*client, map[string]string) {
	t.Helper()
	ctx := context.Background()
	staff, err := ta.Identity.PrincipalOf(ctx, "exam_staff")
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := ta.Identity.CreateToken(ctx, staff, identity.TokenInput{Name: "site", Scopes: []string{"read", "write"}, ExpiresIn: 30})
	if err != nil {
		t.Fatal(err)
	}
	return ta.client(t), map[string]string{"Authorization": "Bearer " + secret}
}
