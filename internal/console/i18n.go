package console

import (
	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/sign"
)

// The console speaks Vietnamese (the default: the gates' staff and most
// traders) and English. Chinese is added beside the label wherever a field
// or a party is Guangxi's (Chinese plate, Chinese names, the Guangxi single
// window), as on the paper forms at the gate.

func supported(l string) bool { return l == "vi" || l == "en" }

func translate(lang, key string) string {
	if m, ok := messages[key]; ok {
		if lang == "en" || m[0] == "" {
			return m[1]
		}
		return m[0]
	}
	return key
}

// agencyName is the agency's display name, also in Chinese when its agency
// file gives a Chinese name for a Chinese agency (Guangxi's single window).
func agencyName(set *agencies.Set, lang, agency string) string {
	en, vi := set.Name(agency)
	name := en
	if lang == "vi" {
		name = vi
	}
	if chineseSide(set, agency) {
		a, _ := set.Lookup(agency)
		name += " · " + a.Names.ZH
	}
	return name
}

// chineseSide reports whether the agency is on the Chinese side: its
// messages are signed under the China e-port profile.
func chineseSide(set *agencies.Set, agency string) bool {
	a, ok := set.Lookup(agency)
	return ok && a.Names.ZH != "" && a.Signature.Name == sign.SM2Profile.Name
}

// messages: key → {vi, en}.
var messages = map[string][2]string{
	"app.name":      {"Cổng một cửa biên giới", "Border single window"},
	"skip":          {"Bỏ qua, tới nội dung", "Skip to content"},
	"lang.switch":   {"English", "Tiếng Việt"},
	"signedInAs":    {"Đăng nhập với", "Signed in as"},
	"logout":        {"Đăng xuất", "Sign out"},
	"login.title":   {"Đăng nhập", "Sign in"},
	"login.token":   {"Mã truy cập (token)", "Access token"},
	"login.hint":    {"Mã do cơ quan quản lý cấp cho tài khoản của bạn.", "The token issued to your account."},
	"login.submit":  {"Đăng nhập", "Sign in"},
	"login.unknown": {"Mã truy cập không đúng hoặc đã bị thu hồi.", "Unknown or revoked token."},
	"role.trader":   {"Doanh nghiệp", "Trader"},
	"role.operator": {"Điều hành cửa khẩu", "Gate operator"},
	"role.auditor":  {"Kiểm toán", "Auditor"},
	"role.admin":    {"Quản trị tỉnh", "Province admin"},

	"nav.declarations": {"Tờ khai", "Declarations"},
	"nav.gates":        {"Cửa khẩu", "Gates"},
	"nav.outbox":       {"Hàng đợi gửi", "Outbox"},
	"nav.audit":        {"Nhật ký kiểm toán", "Audit log"},
	"nav.stats":        {"Thống kê", "Statistics"},
	"nav.admin":        {"Cấu hình cửa khẩu", "Gate configuration"},

	"error.title": {"Không thực hiện được", "Could not be done"},
	"error.back":  {"Quay lại", "Go back"},

	"list.new":         {"Khai báo xe mới", "Declare a truck"},
	"list.filter":      {"Lọc", "Filter"},
	"list.status":      {"Trạng thái", "Status"},
	"list.any":         {"Tất cả", "Any"},
	"list.plate":       {"Biển số", "Plate"},
	"list.from":        {"Từ ngày", "From"},
	"list.to":          {"Đến ngày", "To"},
	"list.empty":       {"Không có tờ khai nào.", "No declarations."},
	"list.id":          {"Mã tờ khai", "Declaration"},
	"list.version":     {"Phiên bản", "Version"},
	"list.created":     {"Ngày tạo", "Created"},
	"status.active":    {"Hiệu lực", "Active"},
	"status.cancelled": {"Đã huỷ", "Cancelled"},

	"declare.title":       {"Khai báo xe qua cửa khẩu", "Declare a truck"},
	"amend.title":         {"Sửa tờ khai", "Amend declaration"},
	"declare.submit":      {"Gửi tờ khai", "Submit declaration"},
	"amend.submit":        {"Gửi bản sửa đổi", "Submit amendment"},
	"declare.errors":      {"Tờ khai có %d lỗi. Sửa các ô được đánh dấu rồi gửi lại.", "The declaration has %d error(s). Fix the marked fields and submit again."},
	"declare.upload":      {"Hoặc tải lên tệp JSON", "Or upload a JSON file"},
	"declare.uploadFile":  {"Tệp JSON của tờ khai", "Declaration JSON file"},
	"declare.paste":       {"Hoặc dán JSON", "Or paste the JSON"},
	"declare.load":        {"Nạp vào biểu mẫu", "Load into the form"},
	"declare.required":    {"bắt buộc", "required"},
	"upload.tooLarge":     {"Tệp quá lớn (tối đa 256 KiB).", "File too large (256 KiB at most)."},
	"upload.unreadable":   {"Không đọc được JSON", "Unreadable JSON"},
	"add.driver":          {"Thêm lái xe", "Add a driver"},
	"add.consignment":     {"Thêm lô hàng", "Add a consignment"},
	"remove":              {"Xoá", "Remove"},
	"g.crossing":          {"Chuyến qua cửa khẩu", "Crossing"},
	"g.trader":            {"Doanh nghiệp khai báo", "Trader"},
	"g.vehicle":           {"Phương tiện", "Vehicle"},
	"g.driver":            {"Lái xe", "Driver"},
	"g.consignment":       {"Lô hàng", "Consignment"},
	"g.consignor":         {"Người gửi hàng", "Consignor"},
	"g.consignee":         {"Người nhận hàng", "Consignee"},
	"f.direction":         {"Chiều", "Direction"},
	"f.cargoKind":         {"Loại hàng", "Cargo kind"},
	"f.gate":              {"Cửa khẩu", "Border gate"},
	"f.lane":              {"Làn", "Lane"},
	"f.plannedCrossing":   {"Thời gian dự kiến qua", "Planned crossing"},
	"f.customsNumbers":    {"Số tờ khai hải quan", "Customs declaration numbers"},
	"f.name":              {"Tên", "Name"},
	"f.nameCN":            {"Tên tiếng Trung", "Chinese name"},
	"f.taxCode":           {"Mã số thuế", "Tax code"},
	"f.address":           {"Địa chỉ", "Address"},
	"f.country":           {"Quốc gia", "Country"},
	"f.plateVN":           {"Biển số Việt Nam", "Vietnamese plate"},
	"f.plateCN":           {"Biển số Trung Quốc", "Chinese plate"},
	"f.trailerPlate":      {"Biển số rơ-moóc", "Trailer plate"},
	"f.vin":               {"Số khung (VIN)", "VIN"},
	"f.grossWeightKg":     {"Khối lượng toàn bộ (kg)", "Gross weight (kg)"},
	"f.tareWeightKg":      {"Khối lượng bản thân (kg)", "Tare weight (kg)"},
	"f.inspectionNumber":  {"Số giấy kiểm định", "Inspection certificate"},
	"f.inspectionExpires": {"Kiểm định hết hạn", "Inspection expires on"},
	"f.permitNumber":      {"Số giấy phép liên vận", "Cross-border permit"},
	"f.permitExpires":     {"Giấy phép hết hạn", "Permit expires on"},
	"f.nationality":       {"Quốc tịch", "Nationality"},
	"f.idNumber":          {"Số CCCD", "ID number"},
	"f.passport":          {"Hộ chiếu", "Passport"},
	"f.borderPass":        {"Giấy thông hành", "Border pass"},
	"f.borderPassExpires": {"Thông hành hết hạn", "Border pass expires on"},
	"f.hsCodeVN":          {"Mã HS Việt Nam", "HS code (Viet Nam)"},
	"f.hsCodeCN":          {"Mã HS Trung Quốc", "HS code (China)"},
	"f.description":       {"Mô tả hàng", "Description"},
	"f.descriptionCN":     {"Mô tả tiếng Trung", "Chinese description"},
	"f.packages":          {"Số kiện", "Packages"},
	"f.packageKind":       {"Loại kiện", "Package kind"},
	"f.value":             {"Trị giá", "Value"},
	"f.currency":          {"Tiền tệ", "Currency"},
	"f.container":         {"Số container", "Container number"},
	"f.seal":              {"Số niêm phong", "Seal"},
	"h.country":           {"Mã 2 chữ, ví dụ VN, CN", "2 letters, e.g. VN, CN"},
	"h.localTime":         {"Giờ Việt Nam (UTC+7)", "Vietnam time (UTC+7)"},
	"h.list":              {"Cách nhau bởi dấu phẩy", "Separated by commas"},
	"h.plateVN":           {"Ví dụ 12C-12345", "e.g. 12C-12345"},
	"h.plateCN":           {"Ví dụ 桂A12345", "e.g. 桂A12345"},
	"h.hsCodeVN":          {"8 chữ số (AHTN)", "8 digits (AHTN)"},
	"h.hsCodeCN":          {"10 chữ số, cùng 6 số đầu", "10 digits, same first 6"},
	"h.packageKind":       {"Mã UN/ECE, ví dụ CT, BX", "UN/ECE code, e.g. CT, BX"},
	"h.currency":          {"Mã ISO 4217, ví dụ USD", "ISO 4217, e.g. USD"},

	"decl.decision":      {"Quyết định thông quan", "Clearance decision"},
	"decl.awaiting":      {"Đang chờ", "Awaiting"},
	"decl.overdue":       {"Quá hạn trả lời", "Overdue"},
	"decl.agencies":      {"Các cơ quan", "Agencies"},
	"decl.agency":        {"Cơ quan", "Agency"},
	"decl.message":       {"Bản tin", "Message"},
	"decl.state":         {"Trạng thái gửi", "Delivery"},
	"decl.answer":        {"Phản hồi", "Answer"},
	"decl.signedXML":     {"XML đã ký", "Signed XML"},
	"decl.download":      {"Tải về", "Download"},
	"decl.timeline":      {"Diễn biến", "Timeline"},
	"decl.live":          {"Tự động cập nhật", "Updates live"},
	"decl.amend":         {"Sửa tờ khai", "Amend"},
	"decl.cancel":        {"Huỷ tờ khai", "Cancel declaration"},
	"decl.cancelReason":  {"Lý do huỷ", "Reason for cancelling"},
	"decl.cancelConfirm": {"Huỷ tờ khai này? Các cơ quan sẽ nhận bản tin huỷ.", "Cancel this declaration? The agencies will receive a cancellation."},
	"decl.noMessage":     {"chưa có", "none yet"},
	"decl.attempts":      {"lần gửi", "attempts"},
	"decl.earlier":       {"bản trước", "earlier"},
	"decl.gate":          {"Cửa khẩu", "Gate"},
	"tl.declared":        {"Tiếp nhận tờ khai", "Declaration accepted"},
	"tl.amended":         {"Tiếp nhận bản sửa đổi", "Amendment accepted"},
	"tl.queued":          {"Tạo bản tin đã ký", "Signed message queued"},
	"tl.sent":            {"Đã gửi tới cơ quan", "Delivered to the agency"},
	"tl.ack":             {"Cơ quan chấp nhận (ACK)", "Agency accepted (ACK)"},
	"tl.nack":            {"Cơ quan từ chối (NACK)", "Agency refused (NACK)"},
	"tl.decision":        {"Quyết định", "Decision"},
	"tl.crossing":        {"Lượt qua cửa khẩu", "Crossing"},
	"tl.lane":            {"Thiết bị làn", "Lane device"},
	"tl.alert":           {"Cảnh báo an ninh", "Security alert"},

	"gates.lanes":       {"Làn", "Lanes"},
	"gates.board":       {"Bảng điều hành trực tiếp", "Live board"},
	"gates.province":    {"Tỉnh", "Province"},
	"gates.counterpart": {"Cửa khẩu đối diện (TQ)", "Counterpart (China)"},
	"gates.devices":     {"Thiết bị", "Devices"},
	"gates.cargo":       {"Loại hàng", "Cargo"},
	"gates.policy":      {"Chính sách", "Policy"},
	"gates.weightTol":   {"Dung sai cân", "Weight tolerance"},
	"gates.minConf":     {"Độ tin cậy biển số tối thiểu", "Minimum plate confidence"},
	"gates.ackDeadline": {"Hạn trả lời", "ACK deadline"},
	"board.current":     {"Xe hiện tại", "Current vehicle"},
	"board.none":        {"Chưa có xe", "No vehicle yet"},
	"board.events":      {"Sự kiện gần đây", "Last events"},
	"board.waiting":     {"Xe đang chờ / bị giữ", "Trucks waiting or held"},
	"board.nowait":      {"Không có xe chờ.", "No truck waiting."},
	"board.connected":   {"Đang nhận trực tiếp", "Live"},
	"board.weight":      {"Cân", "Weight"},
	"board.barrier":     {"Barie", "Barrier"},
	"board.reasons":     {"Lý do", "Reasons"},

	"outbox.dead":           {"Thư chết", "Dead letters"},
	"outbox.overdue":        {"Quá hạn ACK", "Overdue"},
	"outbox.retrying":       {"Đang thử lại", "Retrying"},
	"outbox.pending":        {"Chờ gửi", "Pending"},
	"outbox.sent":           {"Đã gửi", "Sent"},
	"outbox.redrive":        {"Gửi lại", "Redrive"},
	"outbox.cancel":         {"Huỷ bản tin", "Cancel message"},
	"outbox.empty":          {"Không có bản tin.", "No messages."},
	"outbox.lastError":      {"Lỗi cuối", "Last error"},
	"outbox.confirmRedrive": {"Gửi lại bản tin này tới cơ quan? Cùng mã bản tin, cùng nội dung đã ký.", "Send this message to the agency again? Same message id, same signed bytes."},
	"outbox.confirmCancel":  {"Huỷ bản tin này? Nó sẽ không được gửi nữa.", "Cancel this message? It will not be delivered."},
	"outbox.confirm":        {"Xác nhận", "Confirm"},
	"outbox.back":           {"Không, quay lại", "No, go back"},
	"outbox.done.redrive":   {"Đã đưa bản tin vào hàng đợi gửi lại.", "Message queued for redelivery."},
	"outbox.done.cancel":    {"Đã huỷ bản tin.", "Message cancelled."},

	"audit.search":      {"Tìm kiếm", "Search"},
	"audit.declaration": {"Mã tờ khai", "Declaration"},
	"audit.messageId":   {"Mã bản tin", "Message id"},
	"audit.kind":        {"Loại", "Kind"},
	"audit.time":        {"Thời gian", "Time"},
	"audit.actor":       {"Chủ thể", "Actor"},
	"audit.next":        {"Trang sau", "Next page"},
	"audit.none":        {"Không có mục nào khớp.", "No entries match."},
	"audit.badTime":     {"thời gian không hợp lệ", "not a valid time"},
	"audit.verify":      {"Kiểm tra chuỗi băm", "Verify chain"},
	"audit.verifyHint":  {"Kiểm tra toàn bộ nhật ký đang lưu, từ mục đầu tới mục cuối.", "Checks the whole live log, first stored entry to head."},
	"audit.archive":     {"Tải bản lưu trữ", "Download archive"},
	"audit.chain":       {"Vị trí trong chuỗi", "Chain position"},
	"audit.prevHash":    {"Băm trước", "Previous hash"},
	"audit.hash":        {"Băm", "Hash"},
	"audit.links":       {"Nối đúng với mục trước", "Links to the entry before"},
	"audit.hashOK":      {"Băm khớp nội dung", "Hash matches content"},
	"audit.broken":      {"KHÔNG khớp", "does NOT match"},
	"audit.payload":     {"Nội dung", "Payload"},
	"audit.exact":       {"Tải đúng từng byte", "Download exact bytes"},
	"audit.prev":        {"Mục trước", "Previous entry"},
	"audit.nextEntry":   {"Mục sau", "Next entry"},
	"verify.title":      {"Kiểm tra chuỗi nhật ký", "Chain verification"},
	"verify.progress":   {"Đã kiểm tra %d / %d mục", "Checked %d of %d entries"},
	"verify.ok":         {"Chuỗi nguyên vẹn: %d mục, từ #%d tới #%d.", "Chain intact: %d entries, #%d to #%d."},
	"verify.bad":        {"Chuỗi bị phá vỡ", "Chain broken"},
	"verify.empty":      {"Nhật ký trống.", "The log is empty."},

	"stats.period":     {"Khoảng thời gian", "Period"},
	"stats.show":       {"Xem", "Show"},
	"stats.crossings":  {"Lượt xe qua theo ngày, cửa khẩu và chiều", "Crossings per day, gate and direction"},
	"stats.clearance":  {"Thời gian từ khai báo tới thông quan", "Declaration to clearance"},
	"stats.ackLatency": {"Thời gian phản hồi ACK theo cơ quan", "ACK latency per agency"},
	"stats.nacks":      {"Lý do từ chối hoặc giữ xe theo cơ quan", "Refusal and hold reasons by agency"},
	"stats.dwell":      {"Thời gian dừng tại trạm kiểm soát", "Dwell time at checkpoints"},
	"stats.noDwell":    {"Chưa có dữ liệu qua trạm kiểm soát.", "No checkpoint passages recorded yet."},
	"stats.csv":        {"Tải CSV", "Download CSV"},
	"stats.day":        {"Ngày", "Day"},
	"stats.direction":  {"Chiều", "Direction"},
	"stats.count":      {"Số lượng", "Count"},
	"stats.code":       {"Mã lý do", "Reason code"},
	"stats.none":       {"Không có dữ liệu trong khoảng này.", "No data in this period."},
	"stats.truncated":  {"Khoảng thời gian quá dài: chỉ tính 200.000 mục đầu.", "Period too long: only the first 200,000 entries counted."},
	"stats.crossNote":  {"Lượt qua = một xe đã khai báo qua trạm kiểm soát đầu tiên.", "A crossing = a declared truck passing its first checkpoint."},
	"stats.checkpoint": {"Trạm kiểm soát", "Checkpoint"},

	"admin.source":   {"Nội dung tệp cấu hình (YAML)", "Gate file (YAML)"},
	"admin.file":     {"Hoặc chọn tệp", "Or choose a file"},
	"admin.validate": {"Kiểm tra", "Validate"},
	"admin.apply":    {"Áp dụng", "Apply"},
	"admin.valid":    {"Tệp hợp lệ: cửa khẩu %s, %d làn.", "Valid: gate %s, %d lanes."},
	"admin.applied":  {"Đã áp dụng cấu hình cửa khẩu %s, không cần khởi động lại.", "Gate %s applied, no restart needed."},
	"admin.issues":   {"Tệp có lỗi (cấu hình đang chạy không đổi):", "The file has errors (the running configuration is unchanged):"},
}
