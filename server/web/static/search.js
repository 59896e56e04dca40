// Search as you type: ask the JSON route a moment after the last key, show the rows as the server
// would have rendered them. Without this script the form still searches on Enter.
(function () {
  "use strict";
  var input = document.getElementById("q");
  var list = document.getElementById("results");
  var count = document.getElementById("result-count");
  var timer = null, asked = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text) { e.textContent = text; }
    return e;
  }

  function when(ts) {
    var d = new Date(ts * 1000);
    return d.toLocaleString([], {weekday: "short", day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit"});
  }

  function show(data) {
    list.textContent = "";
    data.results.forEach(function (r) {
      var li = el("li", "person");
      li.appendChild(el("span", "name", r.name));
      if (r.title) { li.appendChild(document.createTextNode(", ")); li.appendChild(el("span", "title", r.title)); }
      li.appendChild(el("span", "unit", r.unit));
      var nums = [];
      if (r.desk) { nums.push("Phone " + r.desk); }
      if (r.mobile) { nums.push("Mobile " + r.mobile); }
      if (r.email) { nums.push(r.email); }
      li.appendChild(el("span", "numbers", nums.join(" · ")));
      if (r.absence) {
        li.appendChild(el("span", "absence", r.absence.label + " until " + r.absence.until_text));
      } else if (r.status === "in") {
        li.appendChild(el("span", "present", "In"));
      }
      if (r.substitute) {
        li.appendChild(el("span", "substitute", "Substitute: " + r.substitute.name +
                          (r.substitute.desk ? " (" + r.substitute.desk + ")" : "")));
      }
      list.appendChild(li);
    });
    count.textContent = data.q ? data.results.length + " found" : "";
  }

  function ask() {
    var q = input.value, mine = ++asked;
    fetch("/web/directory/search.json?q=" + encodeURIComponent(q), {headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.status === 429) { count.textContent = "Too many searches; wait a moment."; return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (data) { if (data && mine === asked) { show(data); } })
      .catch(function () { count.textContent = "The search is not reachable right now."; });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 120);
  });
})();
