import { createRoot } from 'react-dom/client';
import { Api } from './protocol/api.js';
import { createBoardStore } from './store/board.js';
import { App } from './ui/App.jsx';
import { AppContext } from './ui/hooks.js';
import './styles.css';

const api = new Api();
const board = createBoardStore();

createRoot(document.getElementById('root')).render(
	<AppContext.Provider value={{ api, board }}>
		<App />
	</AppContext.Provider>,
);
