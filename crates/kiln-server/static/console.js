// Kiln console: small conveniences on top of pages that work without JavaScript.
// The build log viewer (earlier output, line anchors, search, the live log over server-sent
// events), copy to clipboard, the badge picker (branch or tag, and style), form sections and
// labels that follow their choices, extra environment variable rows and the list filter.
"use strict";

(function () {
  function onReady(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  // --- Copy buttons: data-copy names the element whose value is copied. -------------------
  function announce(text) {
    var status = document.getElementById("copy-status");
    if (status) status.textContent = text;
  }
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      ok ? resolve() : reject(new Error("copy refused"));
    });
  }
  function setUpCopy() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.dataset.copy);
        if (!source) return;
        var label = button.textContent.replace(/^Copy /, "");
        copyText(source.value).then(
          function () { announce("Copied " + label.charAt(0).toLowerCase() + label.slice(1) + "."); },
          function () { source.select(); announce("Press Ctrl+C to copy the selected text."); }
        );
      });
    });
  }

  // --- Badge picker: a branch or a tag, and a style; rewrites the URLs, Markdown and preview.
  function setUpBranchPicker() {
    var input = document.getElementById("branch");
    if (!input || !input.dataset.badgeBase) return;
    var form = input.form;
    var style = document.getElementById("badge-style");
    var url = document.getElementById("badge-url");
    var markdown = document.getElementById("badge-markdown");
    var preview = document.getElementById("badge-preview");
    // The address the badge endpoint reads: uuid, then branch or tag, then a style other
    // than the default one (as the server writes it).
    function badgeUrl() {
      var u = new URL(input.dataset.badgeBase);
      var name = input.value.trim();
      var kind = form.elements.ref_type ? form.elements.ref_type.value : "branch";
      if (name) u.searchParams.set(kind === "tag" ? "tag" : "branch", name);
      if (style && style.value !== "flat") u.searchParams.set("style", style.value);
      return u;
    }
    function update() {
      var u = badgeUrl();
      var name = input.value.trim();
      var target = u.toString() === new URL(input.dataset.badgeBase).toString() ? input.dataset.badgeDefault : u.toString();
      url.value = target;
      markdown.value = "![Build Status](" + target + ")";
      // The report badges: the same address with its `report` parameter.
      document.querySelectorAll("[data-report-badge]").forEach(function (field) {
        var r = badgeUrl();
        r.searchParams.set("report", field.dataset.reportBadge);
        field.value = r.toString();
        var md = document.querySelector("[data-report-markdown='" + field.dataset.reportBadge + "']");
        if (md) md.value = "![" + md.dataset.title + "](" + r.toString() + ")";
      });
      if (preview) {
        var kind = form.elements.ref_type ? form.elements.ref_type.value : "branch";
        preview.src = target;
        preview.alt = "Build status badge" + (name ? " for " + kind + " " + name : "");
      }
    }
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    form.addEventListener("submit", function (e) { e.preventDefault(); update(); });
  }

  // --- Form sections that depend on a choice. ----------------------------------------------
  function currentValue(form, name) {
    var field = form.elements[name];
    if (!field) return "";
    if (field instanceof RadioNodeList) return field.value;
    return field.value;
  }
  function setUpConditionalSections() {
    var form = document.querySelector("form.project-form");
    if (!form) return;
    var rules = [];
    form.querySelectorAll("[data-show-when],[data-hide-when]").forEach(function (el) {
      var show = el.hasAttribute("data-show-when");
      var spec = (el.getAttribute(show ? "data-show-when" : "data-hide-when")).split("=");
      rules.push({ el: el, name: spec[0], value: spec[1], show: show });
    });
    var provider = document.getElementById("source_type");
    var badge = document.getElementById("badge");
    var reason = document.querySelector("[data-badge-reason]");
    // The badge choice outlives a provider that cannot have one: while the box is off, a
    // hidden badge_kept field carries it (as the server renders it without JavaScript).
    var wanted = badge ? badge.checked || !!form.querySelector("[data-badge-kept]") : false;
    if (badge) badge.addEventListener("change", function () { wanted = badge.checked; });
    function keepBadgeChoice(keep) {
      var kept = form.querySelector("[data-badge-kept]");
      if (keep && !kept) {
        kept = document.createElement("input");
        kept.type = "hidden";
        kept.name = "badge_kept";
        kept.value = "on";
        kept.setAttribute("data-badge-kept", "");
        badge.parentNode.insertBefore(kept, badge.nextSibling);
      } else if (!keep && kept) {
        kept.parentNode.removeChild(kept);
      }
    }
    function refresh() {
      rules.forEach(function (r) {
        var match = currentValue(form, r.name) === r.value;
        r.el.hidden = r.show ? !match : match;
      });
      if (provider && badge) {
        var off = provider.dataset.badgeOff.split(" ").indexOf(provider.value) >= 0;
        badge.disabled = off;
        badge.checked = !off && wanted;
        keepBadgeChoice(off && wanted);
        if (reason) reason.hidden = !off;
      }
      if (provider) {
        // The source field's label and hint name a bucket and key for S3, a repository else.
        var kind = provider.value === provider.dataset.s3Kind ? "s3" : "git";
        form.querySelectorAll("[data-source-kind]").forEach(function (el) {
          el.hidden = el.dataset.sourceKind !== kind;
        });
      }
    }
    form.addEventListener("change", refresh);
    refresh();
  }

  // --- Managed image pickers: the OS and runtime narrow the images, an image its versions.
  function setUpFilters() {
    document.querySelectorAll("select[data-filters]").forEach(function (select) {
      select.addEventListener("change", function () { applyFilters(); });
    });
    applyFilters();
  }
  function applyFilters() {
    var os = document.getElementById("managed_os");
    var runtime = document.getElementById("managed_runtime");
    var image = document.getElementById("managed_image");
    var version = document.getElementById("managed_image_version");
    if (!image) return;
    narrow(image, function (o) {
      return (!os || o.dataset.platform === os.value) && (!runtime || o.dataset.language === runtime.value);
    });
    if (version) narrow(version, function (o) { return o.hasAttribute("data-always") || o.dataset.image === image.value; });
  }
  function narrow(select, keep) {
    var firstKept = null;
    Array.prototype.forEach.call(select.options, function (o) {
      var k = keep(o);
      o.hidden = !k;
      o.disabled = !k;
      if (k && !firstKept) firstKept = o;
    });
    var chosen = select.options[select.selectedIndex];
    if ((!chosen || chosen.disabled) && firstKept) {
      firstKept.selected = true;
      select.dispatchEvent(new Event("change"));
    }
  }

  // --- Environment variables: more rows on demand. -----------------------------------------
  function setUpEnvRows() {
    var add = document.querySelector("[data-add-env-row]");
    var rows = document.querySelector("[data-env-rows]");
    if (!add || !rows) return;
    add.hidden = false;
    add.addEventListener("click", function () {
      var template = rows.lastElementChild;
      var row = template.cloneNode(true);
      var n = rows.children.length + 1;
      row.querySelectorAll("input,select,label").forEach(function (el) {
        if (el.tagName === "LABEL") {
          el.htmlFor = el.htmlFor.replace(/_\d+$/, "_" + n);
        } else {
          el.id = el.id.replace(/_\d+$/, "_" + n);
          if (el.tagName === "INPUT") el.value = "";
          if (el.tagName === "SELECT") el.selectedIndex = 0;
        }
      });
      rows.appendChild(row);
      row.querySelector("input").focus();
    });
  }

  // --- Project list filter. -------------------------------------------------------------------
  function setUpListFilter() {
    var input = document.querySelector("[data-filter-rows]");
    if (!input) return;
    var body = document.getElementById(input.dataset.filterRows);
    if (!body) return;
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(body.rows, function (row) {
        row.hidden = needle !== "" && row.dataset.name.toLowerCase().indexOf(needle) < 0;
      });
    });
  }

  // --- The build log: paging, anchors, search, following the live log. ------------------------
  // The server renders every line (colours, phases, anchors); this only moves its HTML in.
  function setUpLogViewer() {
    var log = document.getElementById("log");
    if (!log) return;
    var tools = document.getElementById("log-js-tools");
    var follow = document.getElementById("log-follow");
    var earlier = document.getElementById("log-earlier");
    var search = document.getElementById("log-search");
    var searchStatus = document.getElementById("log-search-status");
    var state = document.getElementById("log-state");
    if (tools) tools.hidden = false;
    var start = Number(log.dataset.start || "0");
    var following = true;
    var matches = [];
    var current = -1;
    var loading = null;

    function atBottom() {
      return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    }
    function setFollowing(on) {
      following = on;
      if (follow) follow.checked = on;
      if (on) log.scrollTop = log.scrollHeight;
    }
    log.addEventListener("scroll", function () {
      if (following !== atBottom()) {
        following = atBottom();
        if (follow) follow.checked = following;
      }
    });
    if (follow) {
      follow.addEventListener("change", function () { setFollowing(follow.checked); });
    }

    // The second section continues the first: its lines move in; its end state, if it has one,
    // becomes the first's.
    function join(first, second) {
      second.querySelectorAll(".ll").forEach(function (line) { first.appendChild(line); });
      if (second.dataset.state) {
        first.dataset.state = second.dataset.state;
        first.dataset.phase = second.dataset.phase;
        // The reader's choice of open sections stays as it is.
        first.querySelector("summary").replaceWith(second.querySelector("summary"));
      }
      second.remove();
    }
    function parse(html) {
      var template = document.createElement("template");
      template.innerHTML = html;
      return template.content;
    }
    function append(html) {
      var part = parse(html);
      var lines = Array.prototype.slice.call(part.querySelectorAll(".ll"));
      var first = part.querySelector("details");
      var last = log.lastElementChild;
      if (first && first.dataset.continued && last) {
        join(last, first);
      }
      log.appendChild(part);
      markMatches(lines);
    }
    function prepend(html) {
      var part = parse(html);
      var sections = part.querySelectorAll("details");
      var last = sections[sections.length - 1];
      var first = log.firstElementChild;
      var height = log.scrollHeight;
      log.insertBefore(part, first);
      if (last && first && first.dataset.continued) join(last, first);
      markMatches(Array.prototype.slice.call(log.querySelectorAll(".ll")));
      // What the reader was looking at stays where it was.
      log.scrollTop += log.scrollHeight - height;
    }

    function loadEarlier() {
      if (loading) return loading;
      if (start <= 0 || !earlier) return Promise.resolve(false);
      earlier.setAttribute("aria-disabled", "true");
      loading = fetch(earlier.dataset.lines + "?before=" + start, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          var next = Number(response.headers.get("x-kiln-log-start"));
          return response.text().then(function (html) {
            prepend(html);
            start = next;
            log.dataset.start = String(start);
            earlier.setAttribute("href", earlier.getAttribute("href").replace(/before=\d+/, "before=" + start));
            if (start <= 0) earlier.parentNode.remove();
            return true;
          });
        })
        .catch(function () {
          if (state) state.textContent = "Earlier output could not be loaded.";
          return false;
        })
        .then(function (loaded) {
          earlier.removeAttribute("aria-disabled");
          loading = null;
          return loaded;
        });
      return loading;
    }
    if (earlier) {
      earlier.addEventListener("click", function (event) {
        event.preventDefault();
        setFollowing(false);
        loadEarlier();
      });
    }

    function reveal(line) {
      var section = line.closest("details");
      if (section) section.open = true;
      line.scrollIntoView({ block: "center" });
    }
    // `#L<number>`: that line, highlighted. A line outside the window shown is asked of the
    // server (`?line=`), which shows the window around it wherever it is in the log.
    function showTarget() {
      var match = /^#L(\d+)$/.exec(window.location.hash);
      if (!match) return false;
      var line = document.getElementById("L" + match[1]);
      if (!line) {
        var around = "line=" + match[1];
        if (window.location.search !== "?" + around) {
          window.location.replace(window.location.pathname + "?" + around + window.location.hash);
        }
        return true;
      }
      setFollowing(false);
      log.querySelectorAll(".ll.target").forEach(function (l) { l.classList.remove("target"); });
      line.classList.add("target");
      reveal(line);
      return true;
    }
    window.addEventListener("hashchange", showTarget);

    function markMatches(lines) {
      var needle = search ? search.value.trim().toLowerCase() : "";
      if (!needle) return;
      lines.forEach(function (line) {
        if (line.querySelector(".lx").textContent.toLowerCase().indexOf(needle) >= 0) {
          line.classList.add("match");
        }
      });
      matches = Array.prototype.slice.call(log.querySelectorAll(".ll.match"));
      if (searchStatus) {
        searchStatus.textContent = matches.length === 1 ? "1 matching line" : matches.length + " matching lines";
      }
    }
    function runSearch() {
      log.querySelectorAll(".ll.match").forEach(function (l) { l.classList.remove("match", "current"); });
      matches = [];
      current = -1;
      if (searchStatus) searchStatus.textContent = "";
      markMatches(Array.prototype.slice.call(log.querySelectorAll(".ll")));
    }
    function step(by) {
      if (!matches.length) return;
      if (current >= 0 && matches[current]) matches[current].classList.remove("current");
      current = (current + by + matches.length) % matches.length;
      matches[current].classList.add("current");
      setFollowing(false);
      reveal(matches[current]);
      if (searchStatus) searchStatus.textContent = (current + 1) + " of " + matches.length + " matching lines";
    }
    if (search) {
      search.addEventListener("input", runSearch);
      search.addEventListener("keydown", function (event) {
        if (event.key !== "Enter") return;
        event.preventDefault();
        step(event.shiftKey ? -1 : 1);
      });
    }

    if (!showTarget()) setFollowing(true);

    if (!log.dataset.events || !window.EventSource) return;
    var url = log.dataset.events + "?html=true&from=" + encodeURIComponent(log.dataset.offset || "0");
    if (log.dataset.time) url += "&time=" + encodeURIComponent(log.dataset.time);
    var source = new EventSource(url);
    log.dataset.live = "true";
    source.onmessage = function (event) {
      append(JSON.parse(event.data));
      log.dataset.offset = event.lastEventId;
      if (following) log.scrollTop = log.scrollHeight;
    };
    source.onerror = function () {
      // EventSource reconnects by itself, sending the last offset as Last-Event-ID.
      if (state) state.textContent = "Connection lost; reconnecting…";
    };
    source.onopen = function () {
      if (state) state.textContent = "Following the log live…";
    };
    source.addEventListener("progress", function (event) {
      var progress = JSON.parse(event.data);
      var body = document.querySelector("#phases tbody");
      if (body) {
        var rows = progress.phases.map(function (phase) {
          var row = document.createElement("tr");
          var cells = [phase.name, null, phase.duration, phase.context].map(function (text) {
            var cell = document.createElement("td");
            if (text !== null) cell.textContent = text;
            row.appendChild(cell);
            return cell;
          });
          cells[0].className = "mono";
          cells[2].className = "nowrap";
          cells[3].className = "break";
          if (phase.status) {
            var pill = document.createElement("span");
            pill.className = "pill " + phase.statusClass;
            pill.textContent = phase.status;
            cells[1].appendChild(pill);
          }
          return row;
        });
        body.replaceChildren.apply(body, rows);
      }
      var commit = document.getElementById("resolved-commit");
      if (commit) commit.textContent = progress.resolvedCommit;
    });
    source.addEventListener("end", function (event) {
      source.close();
      log.dataset.live = "done";
      var status = document.getElementById("build-status");
      if (status && event.data) {
        status.dataset.status = event.data;
        status.textContent = event.data.charAt(0) + event.data.slice(1).toLowerCase().replace(/_/g, " ");
      }
      if (state) state.textContent = "The build is complete; loading its details…";
      // The page is rendered again for the final phases, artifacts and full log.
      window.location.reload();
    });
  }

  onReady(function () {
    // After a refused form, the summary of its errors is read first.
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
    setUpCopy();
    setUpBranchPicker();
    setUpConditionalSections();
    setUpFilters();
    setUpEnvRows();
    setUpListFilter();
    setUpLogViewer();
  });
})();
