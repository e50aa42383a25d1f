package exam

import (
	"context"
	"sort"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
)

// Seat is one place a candidate sits.
type Seat struct {
	Session, Site, Room string
	Seat                int
	Variant             string
}

// container is one room in one session.
type container struct {
	session Session
	room    Room
	filled  int
}

// AssignSeats seats every candidate of an exam: session → site → room →
// seat. Candidates go to the least-filled room (by share of its seats)
// among those their import allows (a site, a session), so rooms fill
// evenly; within a room seats are numbered from 1, and neighbouring seats
// take alternating regular paper variants (A, B, A, B …). Spare seats stay
// free. Either every candidate gets a seat or nothing changes.
func AssignSeats(cands []Candidate, sessions []Session, rooms []Room) ([]Seat, error) {
	var cs []*container
	for _, s := range sessions {
		if len(s.Regular()) == 0 {
			continue
		}
		for _, r := range rooms {
			cs = append(cs, &container{session: s, room: r})
		}
	}
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	// Candidates with a wish first (they have fewer choices), then by number.
	sort.SliceStable(order, func(a, b int) bool {
		ca, cb := cands[order[a]], cands[order[b]]
		wa, wb := ca.wantSite != "" || ca.wantSession != "", cb.wantSite != "" || cb.wantSession != ""
		if wa != wb {
			return wa
		}
		return ca.Number < cb.Number
	})
	out := make([]Seat, len(cands))
	for _, i := range order {
		c := cands[i]
		var best *container
		for _, k := range cs {
			if k.filled >= k.room.Seats || (c.wantSite != "" && k.room.SiteCode != c.wantSite) || (c.wantSession != "" && k.session.Code != c.wantSession) {
				continue
			}
			// least filled share first; ties: earlier session, site, room
			if best == nil || k.filled*best.room.Seats < best.filled*k.room.Seats {
				best = k
			}
		}
		if best == nil {
			return nil, apperr.New(apperr.Conflict, "exam.err_no_seats", c.Number)
		}
		best.filled++
		out[i] = Seat{Session: best.session.Code, Site: best.room.SiteCode, Room: best.room.Code}
	}
	// Number seats inside each room by admission number.
	byRoom := map[*container][]int{}
	for i := range out {
		for _, k := range cs {
			if k.session.Code == out[i].Session && k.room.SiteCode == out[i].Site && k.room.Code == out[i].Room {
				byRoom[k] = append(byRoom[k], i)
				break
			}
		}
	}
	for k, idx := range byRoom {
		sort.Slice(idx, func(a, b int) bool { return cands[idx[a]].Number < cands[idx[b]].Number })
		vs := k.session.Regular()
		for n, i := range idx {
			out[i].Seat = n + 1
			out[i].Variant = vs[n%len(vs)]
		}
	}
	return out, nil
}

// SeatReport sums up an assignment.
type SeatReport struct {
	Seated int `json:"seated"`
	Rooms  int `json:"rooms"`
}

// AssignExamSeats runs AssignSeats over an exam and stores the result in
// one transaction. It is refused once a session key was released or a
// site sent answers.
func (s *Service) AssignExamSeats(ctx context.Context, p *identity.Principal, examID int64) (SeatReport, error) {
	if _, err := s.MayManage(ctx, p, examID); err != nil {
		return SeatReport{}, err
	}
	if err := seatsFrozen(ctx, s.db, examID); err != nil {
		return SeatReport{}, err
	}
	cands, err := s.Candidates(ctx, examID, CandidateFilter{})
	if err != nil {
		return SeatReport{}, err
	}
	sessions, err := s.Sessions(ctx, examID)
	if err != nil {
		return SeatReport{}, err
	}
	rooms, err := s.Rooms(ctx, examID, "")
	if err != nil {
		return SeatReport{}, err
	}
	if len(sessions) == 0 || len(rooms) == 0 {
		return SeatReport{}, apperr.New(apperr.Conflict, "exam.err_no_rooms")
	}
	seats, err := AssignSeats(cands, sessions, rooms)
	if err != nil {
		return SeatReport{}, err
	}
	used := map[string]bool{}
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		if err := seatsFrozen(ctx, tx, examID); err != nil {
			return err
		}
		for i, st := range seats {
			used[st.Session+"|"+st.Site+"|"+st.Room] = true
			if _, err := tx.Exec(ctx, "UPDATE exam_candidates SET site_code = ?, session_code = ?, room_code = ?, seat = ?, variant = ? WHERE id = ?",
				st.Site, st.Session, st.Room, st.Seat, st.Variant, cands[i].ID); err != nil {
				return err
			}
		}
		return nil
	})
	return SeatReport{Seated: len(seats), Rooms: len(used)}, err
}
