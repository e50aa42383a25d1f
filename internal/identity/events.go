package identity

import "jnedu/internal/platform/events"

// Events the identity subsystem publishes through the outbox, in the same
// transaction as the change they report: the data platform builds its
// roster and activity records from them.
var (
	TopicOrgCreated  = events.NewTopic[OrgEvent]("identity.org.created")
	TopicUserCreated = events.NewTopic[UserEvent]("identity.user.created")
	TopicSignedIn    = events.NewTopic[UserEvent]("identity.user.signed_in")
)

// OrgEvent reports an organisation.
type OrgEvent struct {
	OrgID    int64   `json:"org_id"`
	ParentID int64   `json:"parent_id,omitempty"`
	Kind     OrgKind `json:"kind"`
	Code     string  `json:"code"`
	Name     string  `json:"name"`
}

// UserEvent reports a user (never a password or its hash).
type UserEvent struct {
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
	OrgID    int64  `json:"org_id"`
	Roles    []Role `json:"roles,omitempty"`
	At       int64  `json:"at"`
}
