/** Options of {@link statusPage}. */
export interface StatusPageOptions {
  readonly title: string;
  /** How often the page polls `status` and `history`. */
  readonly refreshMs: number;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The status page: one HTML document with inline CSS, JS and SVG (no external requests, no build
 * step). It polls `status` and `history` relative to its own URL, so it works under any mount
 * point. A token is read from the URL fragment (`#token=…`, never sent to the server in the URL),
 * kept in `sessionStorage` and sent as `Authorization: Bearer`.
 */
export function statusPage(options: StatusPageOptions): string {
  const title = escapeHtml(options.title);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · status</title>
<style>
:root{--bg:#f7f8fa;--card:#fff;--ink:#1d2330;--mute:#6b7385;--line:#e3e6ec;--leader:#1f9d55;--follower:#2b6cb0;--client:#7a7f8c;--none:#c53030;--warn:#c05621}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;align-items:center;gap:16px;padding:14px 24px;background:#1d2330;color:#fff}
header h1{font-size:18px;margin:0;font-weight:600}header .sub{color:#aab1c2;font-size:12px;margin-left:auto}
.pill{padding:3px 10px;border-radius:999px;font-weight:600;font-size:12px;letter-spacing:.04em}
.ok{background:#1f9d55;color:#fff}.bad{background:#c53030;color:#fff}
main{padding:18px 24px;display:grid;gap:18px;grid-template-columns:1fr 1fr;max-width:1400px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px}
section.wide{grid-column:1/-1}h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--mute);margin:0 0 10px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);white-space:nowrap}
th{font-size:12px;color:var(--mute);font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.role{display:inline-block;min-width:74px;text-align:center;padding:2px 8px;border-radius:4px;color:#fff;font-weight:600;font-size:12px;text-transform:uppercase}
.role-leader{background:var(--leader)}.role-follower{background:var(--follower)}.role-client{background:var(--client)}.role-none{background:var(--none)}
.cluster{display:flex;flex-wrap:wrap;gap:10px}.member{border:1px solid var(--line);border-radius:8px;padding:8px 12px;min-width:150px}
.member b{display:block;font-size:15px}.member small{color:var(--mute)}
svg{width:100%;height:220px;display:block}.legend{display:flex;flex-wrap:wrap;gap:12px;font-size:12px;color:var(--mute);margin-top:6px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:middle}
.events{max-height:220px;overflow:auto;font-size:13px}.events div{padding:3px 0;border-bottom:1px solid var(--line)}
.ev-promoted{color:var(--leader);font-weight:600}.ev-demoted,.ev-fenced{color:var(--warn);font-weight:600}.ev-bad{color:var(--none);font-weight:600}
#msg{grid-column:1/-1;color:var(--none);font-weight:600}#msg:empty{display:none}
</style></head>
<body>
<header><h1>${title}</h1><span id="overall" class="pill">…</span><span id="reason" class="sub"></span><span class="sub" id="updated"></span></header>
<main>
<div id="msg"></div>
<section class="wide"><h2>Cluster</h2><div id="cluster" class="cluster"></div></section>
<section class="wide"><h2>Nodes</h2><table><thead><tr><th>Node</th><th>Database</th><th>Role</th><th>Epoch</th><th>Leader</th><th class="num">Lag</th><th class="num">Last ship</th><th class="num">Shipped</th><th class="num">Applied</th><th>Breaker</th><th>Ready</th></tr></thead><tbody id="nodes"></tbody></table></section>
<section><h2>Replication lag (seconds)</h2><svg id="lag" viewBox="0 0 600 220" preserveAspectRatio="none"></svg><div class="legend" id="lag-legend"></div></section>
<section><h2>Shipping rate (KiB/s)</h2><svg id="rate" viewBox="0 0 600 220" preserveAspectRatio="none"></svg><div class="legend" id="rate-legend"></div></section>
<section class="wide"><h2>Recent events</h2><div id="events" class="events"></div></section>
</main>
<script>
"use strict";
const REFRESH=${Math.max(250, Math.round(options.refreshMs))}, MAX_WINDOW_MS=5*60*1000, MIN_WINDOW_MS=30*1000, RATE_SPAN_MS=2000;
const COLORS=["#2b6cb0","#1f9d55","#d69e2e","#805ad5","#dd6b20","#319795","#e53e3e","#718096"];
const m=/[#&]token=([^&]+)/.exec(location.hash);
if(m){sessionStorage.setItem("hadb-admin-token",decodeURIComponent(m[1]));history.replaceState(null,"",location.pathname+location.search);}
const token=sessionStorage.getItem("hadb-admin-token");
const headers=token?{authorization:"Bearer "+token}:{};
const $=(id)=>document.getElementById(id);
function h(tag,attrs,...kids){const e=document.createElement(tag);for(const[k,v]of Object.entries(attrs||{}))if(v!==undefined&&v!==null)e.setAttribute(k,String(v));for(const c of kids)e.append(c instanceof Node?c:document.createTextNode(c==null?"":String(c)));return e}
function s(tag,attrs){const e=document.createElementNS("http://www.w3.org/2000/svg",tag);for(const[k,v]of Object.entries(attrs||{}))e.setAttribute(k,String(v));return e}
const fmtS=(v)=>v==null?"—":v<10?v.toFixed(2)+" s":v<120?v.toFixed(0)+" s":(v/60).toFixed(1)+" min";
const fmtB=(v)=>v==null?"—":v<1024?v+" B":v<1048576?(v/1024).toFixed(1)+" KiB":(v/1048576).toFixed(1)+" MiB";
const colorOf=(()=>{const map=new Map();return(k)=>{if(!map.has(k))map.set(k,COLORS[map.size%COLORS.length]);return map.get(k)}})();
function roleBadge(role,node,db){return h("span",{class:"role role-"+role,"data-testid":"role-"+node+"-"+db,"data-role":role},role==="none"?"down":role)}
function render(st){
  $("overall").textContent=st.ready?"READY":"NOT READY";$("overall").className="pill "+(st.ready?"ok":"bad");
  $("reason").textContent=st.ready?"":st.readyReason;$("updated").textContent="updated "+new Date(st.generatedAtMs).toLocaleTimeString();
  const now=st.generatedAtMs, rows=[], dbs=new Map();
  for(const n of st.nodes){
    if(!n.error&&n.databases.length===0)rows.push(h("tr",{"data-node":n.nodeId},h("td",{},n.nodeId),h("td",{},"—"),h("td",{},roleBadge("none",n.nodeId,"none")),h("td",{colspan:8},"no database joined")));
    if(n.error)rows.push(h("tr",{"data-node":n.nodeId},h("td",{},n.nodeId),h("td",{colspan:10},"unreachable: "+n.error)));
    for(const d of n.databases){
      const lag=(d.role==="follower"||d.role==="client")?fmtS(d.lagSeconds)+(d.lagSource==="estimate"&&d.lagSeconds?" ≈":""):"";
      const ship=d.role==="leader"&&d.lastShipAtMs!=null?fmtS(Math.max(0,(now-d.lastShipAtMs)/1000))+" ago":"";
      rows.push(h("tr",{"data-node":n.nodeId,"data-db":d.db},h("td",{},n.nodeId),h("td",{},d.db),h("td",{},roleBadge(d.role,n.nodeId,d.db)),
        h("td",{class:"num"},d.epoch??"—"),h("td",{},d.role==="leader"?"(self)":(d.leaseHolder??d.leaderAddress??"—")),
        h("td",{class:"num"},lag),h("td",{class:"num"},ship),
        h("td",{class:"num"},d.shippedSegments!=null?d.shippedSegments+" seg / "+fmtB(d.shippedBytes):"—"),
        h("td",{class:"num"},d.appliedSegments!=null?d.appliedSegments+" seg / "+fmtB(d.appliedBytes):"—"),
        h("td",{},d.breaker??"—"),h("td",{},d.ready?"✔":"✘ "+d.readyReason)));
      let v=dbs.get(d.db);if(!v)dbs.set(d.db,v=new Map());
      v.set(n.nodeId,{nodeId:n.nodeId,role:d.role,epoch:d.epoch,address:n.address,self:true});
      for(const c of d.cluster||[])if(!v.has(c.nodeId))v.set(c.nodeId,c);
    }
  }
  $("nodes").replaceChildren(...rows);
  const cards=[];
  for(const[db,members]of dbs){
    const leaders=[...members.values()].filter((x)=>x.role==="leader");
    cards.push(h("div",{class:"member","data-testid":"leader-"+db},h("small",{},"database"),h("b",{},db),h("small",{},"leader: "),h("span",{"data-leader":leaders.map((x)=>x.nodeId).join(",")},leaders.map((x)=>x.nodeId).join(", ")||"none")));
    for(const x of members.values())cards.push(h("div",{class:"member","data-testid":"member-"+db+"-"+x.nodeId},h("small",{},db),h("b",{},x.nodeId),roleBadge(x.role,x.nodeId,db+"-cluster"),h("small",{}," "+(x.address||""))));
  }
  $("cluster").replaceChildren(...cards);
  $("events").replaceChildren(...st.events.map((e)=>h("div",{},new Date(e.atMs).toLocaleTimeString()+"  ",h("span",{class:["promoted","demoted","fenced"].includes(e.type)?"ev-"+e.type:"ev-bad"},e.type),"  "+e.db+" on "+(e.nodeId||"?")+(e.error?" — "+e.error:""))));
}
function plot(svgId,legendId,series,now,unit,windowMs){
  const svg=$(svgId),W=600,H=220,L=46,B=22,T=8,R=8;svg.replaceChildren();
  let max=0;for(const x of series)for(const[t,v]of x.points)if(v!=null&&v>max&&now-t<=windowMs)max=v;
  max=max<=0?1:max*1.15;const X=(t)=>L+(W-L-R)*(1-(now-t)/windowMs),Y=(v)=>H-B-(H-B-T)*(v/max);
  for(let i=0;i<=4;i++){const v=max*i/4,y=Y(v);svg.append(s("line",{x1:L,x2:W-R,y1:y,y2:y,stroke:"#e3e6ec"}));const t=s("text",{x:L-6,y:y+4,"text-anchor":"end","font-size":11,fill:"#6b7385"});t.textContent=v<10?v.toFixed(1):v.toFixed(0);svg.append(t)}
  const step=[5e3,1e4,15e3,3e4,6e4,12e4].find((st)=>windowMs/st<=6)||6e4;
  for(let ago=0;ago<=windowMs;ago+=step){const x=X(now-ago),t=s("text",{x:Math.max(L+10,x),y:H-6,"text-anchor":"middle","font-size":11,fill:"#6b7385"});t.textContent=ago===0?"now":"-"+(ago%6e4===0?ago/6e4+"m":ago/1e3+"s");svg.append(t)}
  const legend=[];
  for(const x of series){const pts=x.points.filter(([t,v])=>v!=null&&now-t<=windowMs);if(pts.length===0)continue;const c=colorOf(x.key);
    svg.append(s("polyline",{points:pts.map(([t,v])=>X(t).toFixed(1)+","+Y(v).toFixed(1)).join(" "),fill:"none",stroke:c,"stroke-width":2,"vector-effect":"non-scaling-stroke"}));
    const last=pts[pts.length-1];legend.push(h("span",{},h("i",{style:"background:"+c}),x.key+": "+(now-last[0]>3*REFRESH+1000?"no recent data":unit(last[1]))))}
  if(legend.length===0)legend.push(h("span",{},"no data yet"));
  $(legendId).replaceChildren(...legend);
}
function renderHistory(hist,now){
  const lag=[],rate=[];let first=now;
  for(const x of hist.series){const key=x.node+"/"+x.db;if(x.points.length)first=Math.min(first,x.points[0][0]);
    if(x.points.some((p)=>p[1]!=null))lag.push({key,points:x.points.map((p)=>[p[0],p[1]])});
    // bytes shipped per second over the last RATE_SPAN_MS before each sample
    const r=[];let j=0;for(let i=1;i<x.points.length;i++){const b=x.points[i];while(j<i-1&&x.points[j+1][0]<=b[0]-RATE_SPAN_MS)j++;const a=x.points[j];if(a[2]==null||b[2]==null)continue;const dt=(b[0]-a[0])/1000;if(dt>0)r.push([b[0],Math.max(0,(b[2]-a[2])/1024/dt)])}
    if(r.some((p)=>p[1]>0))rate.push({key,points:r});}
  const windowMs=Math.min(MAX_WINDOW_MS,Math.max(MIN_WINDOW_MS,now-first));
  plot("lag","lag-legend",lag,now,(v)=>fmtS(v),windowMs);plot("rate","rate-legend",rate,now,(v)=>v.toFixed(1)+" KiB/s",windowMs);
}
async function get(path){const r=await fetch(path,{headers,cache:"no-store"});if(r.status===401)throw new Error("unauthorized: open this page as …/#token=<admin token>");if(!r.ok)throw new Error(path+": HTTP "+r.status);return r.json()}
async function tick(){
  try{const[st,hist]=await Promise.all([get("status"),get("history")]);render(st);renderHistory(hist,st.generatedAtMs);$("msg").textContent="";document.body.dataset.loaded="1"}
  catch(e){$("msg").textContent=String(e.message||e)}
  finally{setTimeout(tick,REFRESH)}
}
tick();
</script></body></html>
`;
}
